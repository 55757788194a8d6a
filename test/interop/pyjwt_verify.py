"""Verifies tollgate-minted internal tokens with PyJWT, fetching keys from tollgate's served JWKS.

stdin: {"jwks_uri", "issuer", "tokens": [{"token", "audience"}], "now"}
stdout: [{"header": {...}, "claims": {...}}] or [{"error": "..."}] per token.
"""
import json
import sys

import jwt

request = json.load(sys.stdin)
client = jwt.PyJWKClient(request["jwks_uri"], cache_keys=False)
out = []
for item in request["tokens"]:
    try:
        key = client.get_signing_key_from_jwt(item["token"])
        header = jwt.get_unverified_header(item["token"])
        # The test's clock is not the machine's: verify time claims against the test's "now".
        claims = jwt.decode(
            item["token"],
            key.key,
            algorithms=["ES256", "EdDSA", "RS256"],
            audience=item["audience"],
            issuer=request["issuer"],
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "require": ["exp", "iat", "nbf", "sub", "jti", "act"]},
        )
        if not (claims["nbf"] <= request["now"] < claims["exp"]):
            raise ValueError("not valid at now")
        out.append({"header": header, "claims": claims})
    except Exception as err:  # reported to the test, which fails on it
        out.append({"error": f"{type(err).__name__}: {err}"})
json.dump(out, sys.stdout)

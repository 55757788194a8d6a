"""Mints JWTs with PyJWT, an implementation independent of tollgate's and of jose.

stdin: a JSON list of {"alg", "key" (PEM private key, or the HMAC secret), "kid", "claims"}.
stdout: a JSON list of the tokens, in the same order.
"""
import json
import sys

import jwt

requests = json.load(sys.stdin)
tokens = [
    jwt.encode(r["claims"], r["key"], algorithm=r["alg"], headers={"kid": r["kid"]} if r.get("kid") else None)
    for r in requests
]
json.dump(tokens, sys.stdout)

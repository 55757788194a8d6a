"""What grpcurl does with server reflection, with Python's protobuf (Debian's python3-protobuf).

Reads JSON on stdin: {"files": [base64 FileDescriptorProto, ...], "service"?: name,
"request": {...} | "response": base64 | neither}. Builds a fresh descriptor pool from the served files
only (no bundled well-known types), so every dependency and type name must link; resolves the service
(default the Authorization service) by symbol; then encodes `request` (proto3 JSON) as a CheckRequest,
decodes `response` as a CheckResponse, or (neither) lists the service's methods. Prints JSON.
"""
import base64
import json
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory


def build_pool(encoded_files):
    protos = {}
    for encoded in encoded_files:
        proto = descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(encoded))
        protos[proto.name] = proto
    pool = descriptor_pool.DescriptorPool()
    added = set()

    def add(name, chain=()):
        if name in added:
            return
        if name not in protos:
            raise SystemExit(f"dependency {name} (of {' -> '.join(chain) or 'the request'}) was not served")
        for dependency in protos[name].dependency:
            add(dependency, chain + (name,))
        pool.Add(protos[name])  # links: every type name must resolve within the file and its dependencies
        added.add(name)

    for name in protos:
        add(name)
    return pool


def main():
    job = json.load(sys.stdin)
    pool = build_pool(job["files"])
    service = pool.FindServiceByName(job.get("service", "envoy.service.auth.v3.Authorization"))
    if "request" not in job and "response" not in job:
        methods = {m.name: [m.input_type.full_name, m.output_type.full_name] for m in service.methods}
        json.dump({"service": service.full_name, "methods": methods}, sys.stdout)
        return
    check = service.FindMethodByName("Check")
    factory = message_factory.MessageFactory(pool)
    out = {"service": service.full_name, "input": check.input_type.full_name, "output": check.output_type.full_name}
    if "request" in job:
        request = json_format.ParseDict(job["request"], factory.GetPrototype(check.input_type)())
        out["request"] = base64.b64encode(request.SerializeToString()).decode()
    else:
        response = factory.GetPrototype(check.output_type)()
        response.ParseFromString(base64.b64decode(job["response"]))
        out["response"] = json_format.MessageToDict(response)
    json.dump(out, sys.stdout)


main()

"""A second opinion on spec/schemas/: the `jsonschema` package (draft 2020-12) accepts
every object that a valid vector holds, with the same map from op and input member to
schema as `attest check` (SpecKit's ObjectSchemas.swift)."""
import base64
import json
import re

import jsonschema
import pytest
from referencing import Registry, Resource

from conftest import ROOT

SCHEMAS = ROOT / "spec" / "schemas"


def load_registry():
    resources = []
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        resources.append((path.name, Resource.from_contents(json.loads(path.read_text()))))
    return Registry().with_resources(resources)


REGISTRY = load_registry()


def validator(name):
    return jsonschema.Draft202012Validator({"$ref": name}, registry=REGISTRY)


def b64url_json(segment):
    data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    return json.loads(data)


def jws_parts(compact, header_schema, claims_schema):
    """The decoded header and claims of a compact JWS, when it decodes."""
    parts = compact.split(".") if isinstance(compact, str) else []
    if len(parts) != 3:
        return []
    try:
        return [(header_schema, b64url_json(parts[0])), (claims_schema, b64url_json(parts[1]))]
    except ValueError:
        return []


def objects(vector):
    """(schema, object) pairs of one vector, as ObjectSchemas.swift maps them."""
    op, inp, ctx = vector["op"], vector["input"], vector.get("context", {})
    out = []
    token = ("token-header.schema.json", "token-claims.schema.json")
    operator = ("operator-attestation-header.schema.json", "operator-attestation-claims.schema.json")
    proof = ("proof-header.schema.json", "proof-claims.schema.json")

    def identity_context():
        for issuer in ctx.get("issuers", []) + ctx.get("operators", []):
            if "jwks" in issuer:
                out.append(("jwks.schema.json", issuer["jwks"]))

    def carrier(request):
        params = request.get("params") if isinstance(request, dict) else None
        meta = params.get("_meta") if isinstance(params, dict) else None
        if isinstance(meta, dict):
            out.append(("mcp-carrier.schema.json", meta))
            for name, pair in (("token", token), ("operator", operator), ("proof", proof)):
                value = meta.get("dev.agent-attestation/" + name)
                if isinstance(value, str):
                    out.extend(jws_parts(value, *pair))

    if op == "jwk.thumbprint":
        out.append(("jwk.schema.json", inp["jwk"]))
    elif op == "jwks.parse":
        out.append(("jwks.schema.json", inp["jwks"]))
    elif op == "token.issue":
        out.append(("token-claims.schema.json", inp["claims"]))
    elif op in ("token.verify", "operator.verify", "proof.verify"):
        identity_context()
        out.extend(jws_parts(inp.get("token"), *token))
        for name in ("operator_attestation", "attestation"):
            if name in inp:
                out.extend(jws_parts(inp[name], *operator))
        if "proof" in inp:
            out.extend(jws_parts(inp["proof"], *proof))
    elif op in ("request.verify", "mcp.request.verify"):
        identity_context()
        if "request" in inp:
            carrier(inp["request"])
    elif op == "keys.discovery":
        for url, responses in inp["responses"].items():
            if not url.endswith("/.well-known/agent-attestation-issuer"):
                continue
            for response in responses if isinstance(responses, list) else [responses]:
                try:
                    out.append(("discovery-metadata.schema.json", json.loads(response["body"])))
                except (KeyError, ValueError):
                    pass
    elif op in ("checkpoint.verify", "checkpoint.successor", "receipt.inclusion"):
        for name in ("note", "earlier", "later", "checkpoint"):
            if name in inp:
                out.append(("checkpoint-note.schema.json", inp[name]))
        if op == "receipt.inclusion":
            out.append(("receipt.schema.json", inp["receipt"]))
    elif op == "artifact.verify":
        for i, item in enumerate(inp["chain"]):
            out.append(("artifact.schema.json" if i == 0 else "mandate.schema.json", item))
    elif op == "artifact.evaluate":
        out.append(("bundle-artifact-line.schema.json", inp["artifact"]))
    elif op in ("receipt.verify", "receipt.disclosure"):
        out.append(("receipt.schema.json", inp["receipt"]))
        if op == "receipt.disclosure":
            out.append(("disclosure.schema.json", {k: v for k, v in inp.items() if k != "receipt"}))
    elif op == "bundle.verify":
        # Each file is the hex of its exact bytes: every line that parses is one object.
        out.extend(("bundle-artifact-line.schema.json", item) for item in json_lines(inp["artifacts"]))
        for log in inp["logs"]:
            out.extend(("bundle-receipt-line.schema.json", r) for r in json_lines(log.get("receipts")))
            out.extend(("bundle-checkpoint-line.schema.json", c) for c in json_lines(log.get("checkpoints")))
            out.extend(("bundle-payload-line.schema.json", p) for p in json_lines(log.get("payloads")))
    return out


def json_lines(hex_text):
    items = []
    for line in bytes.fromhex(hex_text or "").split(b"\n"):
        if line.strip():
            try:
                items.append(json.loads(line))
            except ValueError:  # a defect of bytes, which the vector's own code covers
                pass
    return items


def all_vectors():
    index = json.loads((ROOT / "vectors" / "index.json").read_text())
    for entry in index["files"]:
        yield from json.loads((ROOT / "vectors" / entry["file"]).read_text())["vectors"]


def test_every_schema_is_valid_draft_2020_12():
    paths = sorted(SCHEMAS.glob("*.schema.json"))
    assert len(paths) >= 20
    for path in paths:
        jsonschema.Draft202012Validator.check_schema(json.loads(path.read_text()))


def test_valid_vectors_objects_conform():
    checked = 0
    problems = []
    for vector in all_vectors():
        if vector["expected"]["result"] != "valid":
            continue
        for schema, value in objects(vector):
            checked += 1
            for error in validator(schema).iter_errors(value):
                problems.append(f"{vector['id']}: {schema}: {error.json_path}: {error.message[:160]}")
    assert checked >= 300
    assert problems == []


@pytest.mark.parametrize("schema,value", [
    ("jwk.schema.json", {"kty": "OKP", "crv": "Ed25519", "x": "A" * 42 + "B"}),
    ("jwk.schema.json", {"kty": "OKP", "crv": "Ed25519", "x": "A" * 44}),
    ("receipt.schema.json", {}),
    ("bundle-manifest.schema.json", {"format": "mcp-attest/bundle/v2", "artifacts": "a.jsonl", "logs": []}),
])
def test_the_schemas_reject_a_malformed_object(schema, value):
    assert list(validator(schema).iter_errors(value))

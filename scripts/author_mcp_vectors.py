#!/usr/bin/env python3
"""Authoring aid for the vectors of spec/mcp-binding.md.

Complete JSON-RPC messages of both MCP eras are built here with libraries that share no
code with the Swift implementation: PyNaCl (libsodium) for Ed25519, rfc8785 for JCS,
hashlib for SHA-256. Keys, token and claims are those of scripts/author_identity_vectors.py
(same seeds, same claims), so the token here is byte for byte the token of proof.md.

The script rewrites the regions between `<!-- begin vectors: NAME -->` and
`<!-- end vectors: NAME -->` in spec/mcp-binding.md.

Large inputs are written to data files under spec/data/ by vectorlib
(scripts/externalize_vectors.py, conventions.md §Data files); no separate step is needed.

Usage: python3 scripts/author_mcp_vectors.py   (from the repository root)
"""
import copy, hashlib, json, pathlib, re, sys

import rfc8785

import vectorlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = ROOT / "spec" / "mcp-binding.md"
sections = {}
Ed = vectorlib.Ed


def valid(section, id, op, description, covers, context, input, output, **extra):
    vectorlib.valid(sections, section, id, op, description, covers, input, output, context=context, **extra)


def invalid(section, id, op, description, covers, context, input, error, base, mutation, **extra):
    vectorlib.invalid(sections, section, id, op, description, covers, input, error, base, mutation, context=context, **extra)


b64u = vectorlib.b64u


def jcs(v) -> bytes:
    return rfc8785.dumps(v)


def sha(b: bytes) -> str:
    return b64u(hashlib.sha256(b).digest())


def seed(label: str) -> bytes:
    return hashlib.sha256(b"MCP agent attestation vectors: " + label.encode()).digest()


PROVIDER = Ed(bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))  # RFC 8037 A.1
AGENT = Ed(seed("agent"))
ATTACKER = Ed(seed("attacker"))
OTHER_PROVIDER = Ed(seed("other provider"))

NOW = 1780000000
ISS, TD = "https://provider.example", "agents.provider.example"
ISS2, TD2 = "https://other-provider.example", "agents.other-provider.example"
AUD = "https://tools.acme.example/mcp"
EXT = "dev.agent-attestation/v1"
TOKEN_KEY, PROOF_KEY, OPERATOR_KEY = "dev.agent-attestation/token", "dev.agent-attestation/proof", "dev.agent-attestation/operator"
CARRIERS = [TOKEN_KEY, PROOF_KEY, OPERATOR_KEY]
PV, CC, CI = "io.modelcontextprotocol/protocolVersion", "io.modelcontextprotocol/clientCapabilities", "io.modelcontextprotocol/clientInfo"
STATELESS, HANDSHAKE = "2026-07-28", "2025-11-25"

CONTEXT = {
    "now": NOW, "audience": AUD,
    "issuers": [
        {"iss": ISS, "trust_domains": [TD], "jwks": {"keys": [PROVIDER.jwk]}},
        {"iss": ISS2, "trust_domains": [TD2], "jwks": {"keys": [OTHER_PROVIDER.jwk]}},
    ],
}


def ctx(**changes):
    c = copy.deepcopy(CONTEXT)
    c.update(changes)
    return c


AGENT_CLAIM = {"provider": "Example Provider", "model_family": "example-model", "model_version": "2026-05-01",
               "deployment": "acme-support-prod", "operator": "https://acme.example", "safety_level": "standard"}
CLAIMS = {"iss": ISS, "sub": f"spiffe://{TD}/acme/support-bot", "aud": AUD, "iat": NOW - 300, "nbf": NOW - 300,
          "exp": NOW - 300 + 3600, "jti": "tok-7f3a9c2e41b6d805", "cnf": {"jkt": AGENT.kid}, "agent": AGENT_CLAIM}


def compact(hdr, payload, key):
    si = (b64u(jcs(hdr)) + "." + b64u(jcs(payload))).encode()
    return si.decode() + "." + b64u(key.sign(si))


TOKEN = compact({"alg": "Ed25519", "kid": PROVIDER.kid, "typ": "agent-attestation+jwt"}, CLAIMS, PROVIDER)
FORGED = compact({"alg": "Ed25519", "kid": PROVIDER.kid, "typ": "agent-attestation+jwt"}, CLAIMS, ATTACKER)
# The token of proof.md's vectors, recomputed: the two documents describe one agent.
proof_md = (ROOT / "spec" / "proof.md").read_text()
assert TOKEN in proof_md, "the token differs from proof.md's"


as_doubles = vectorlib.as_doubles


def params_hash(params):
    p = copy.deepcopy(params)
    if isinstance(p.get("_meta"), dict):
        for k in CARRIERS:
            p["_meta"].pop(k, None)
    return sha(jcs(as_doubles(p)))


def proof(method, params, jti, iat=NOW - 5, tok=TOKEN):
    claims = {"mth": method, "ph": params_hash(params), "aud": AUD, "iat": iat, "jti": jti, "ath": sha(tok.encode())}
    return compact({"alg": "Ed25519", "jwk": AGENT.jwk, "typ": "agent-proof+jwt"}, claims, AGENT)


ARGS = {"location": "New York", "days": 3}
CLIENT_INFO = {"name": "ExampleClient", "version": "1.0.0"}


def stateless_request(declare=True, version=STATELESS):
    caps = {"extensions": {EXT: {}}} if declare else {}
    return {"jsonrpc": "2.0", "id": "call-1", "method": "tools/call",
            "params": {"_meta": {PV: version, CI: CLIENT_INFO, CC: caps}, "name": "get_weather", "arguments": ARGS}}


def handshake_request():
    return {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "get_weather", "arguments": ARGS}}


def attach(request, jti, tok=TOKEN, token_value=None):
    r = copy.deepcopy(request)
    meta = r["params"].setdefault("_meta", {})
    meta[TOKEN_KEY] = tok if token_value is None else token_value
    meta[PROOF_KEY] = proof(r["method"], r["params"], jti, tok=tok)
    return r


JTI_S, JTI_H = "prf-2b7e151628aed2a6", "prf-abf7158809cf4f3c"

# ---------------------------------------------------------------- attach
S, OP = "mcp-attach", "mcp.request.attach"
bare = stateless_request(declare=False)
bare["params"]["_meta"][CC] = {}
expected_s = attach(stateless_request(), JTI_S)
# The declaration goes in before the proof is made, so the proof covers it.
assert params_hash(expected_s["params"]) == params_hash(stateless_request()["params"])
ATTACH_IN = {"alg": "Ed25519", "seed": AGENT.seed.hex(), "token": TOKEN, "audience": AUD, "iat": NOW - 5}
valid(S, "mcp-attach-stateless", OP,
      "A 2026-07-28 tools/call gets the extension declared in its clientCapabilities, then the token and a proof over the params in params._meta.",
      ["MCP-001", "MCP-002", "MCP-006"], {},
      dict(ATTACH_IN, request=bare, era=STATELESS, jti=JTI_S), {"request": expected_s})
valid(S, "mcp-attach-handshake", OP,
      "A 2025-11-25 tools/call without _meta gets one holding only the token and a proof; its declaration was made once, in initialize.",
      ["MCP-006"], {}, dict(ATTACH_IN, request=handshake_request(), era=HANDSHAKE, jti=JTI_H),
      {"request": attach(handshake_request(), JTI_H)})

# ---------------------------------------------------------------- verify
S, OP = "mcp-verify", "mcp.request.verify"
OUT = {"governed": True, "attested": True, "iss": ISS, "sub": CLAIMS["sub"], "agent": AGENT_CLAIM}
REQ_S = attach(stateless_request(), JTI_S)
REQ_H = attach(handshake_request(), JTI_H)
REQUIRED, OPTIONAL = ctx(policy="required"), ctx(policy="optional")
valid(S, "mcp-verify-stateless", OP, "A complete 2026-07-28 tools/call carrying token and proof is attested.",
      ["MCP-001", "MCP-008", "MCP-014"], REQUIRED, {"request": REQ_S, "era": STATELESS}, dict(OUT, proof_jti=JTI_S))
valid(S, "mcp-verify-handshake", OP,
      "A complete 2025-11-25 tools/call carrying token and proof is attested, whatever the client declared in initialize.",
      ["MCP-005", "MCP-008", "MCP-014"], REQUIRED, {"request": REQ_H, "era": HANDSHAKE}, dict(OUT, proof_jti=JTI_H))
BYTES = json.dumps(REQ_S, separators=(",", ":")).encode()
valid(S, "mcp-verify-bytes", OP, "The same request given as the exact bytes received is attested.", ["MCP-009"],
      REQUIRED, {"data": BYTES.hex(), "era": STATELESS}, dict(OUT, proof_jti=JTI_S))
dup = BYTES.replace(b'"name":"get_weather"', b'"name":"get_weather","name":"delete_account"', 1)
assert dup != BYTES
invalid(S, "mcp-verify-duplicate-member", OP,
        "Parser differential: params with name twice are rejected, so no server can run another tool than the one verified.",
        ["MCP-009"], REQUIRED, {"data": dup.hex(), "era": STATELESS}, "JSON_DUPLICATE_MEMBER", "mcp-verify-bytes",
        "a second name member, delete_account, inserted after the first")
PAY = stateless_request()
PAY["params"]["name"], PAY["params"]["arguments"] = "send_payment", {"to": "acct-4417", "amount_wei": 10**20}
PAY_BYTES = json.dumps(attach(PAY, JTI_S), separators=(",", ":")).encode()
assert b'"amount_wei":100000000000000000000' in PAY_BYTES
valid(S, "mcp-verify-exact-number", OP, "A payment whose amount is the exact integer 100000000000000000000, as bytes, is attested.",
      ["MCP-009", "PRF-027"], REQUIRED, {"data": PAY_BYTES.hex(), "era": STATELESS}, dict(OUT, proof_jti=JTI_S))
rounded = PAY_BYTES.replace(b"100000000000000000000", b"100000000000000008191")
assert float(100000000000000008191) == 1e20 and rounded != PAY_BYTES
invalid(S, "mcp-verify-inexact-number", OP,
        "Rounded numbers: the amount 100000000000000008191 reads as the double the proof's ph covers, and is rejected, not run unsigned.",
        ["PRF-027"], REQUIRED, {"data": rounded.hex(), "era": STATELESS}, "JSON_NUMBER_INEXACT", "mcp-verify-exact-number",
        "amount_wei 100000000000000000000 replaced by 100000000000000008191 in the bytes, proof unchanged")
valid(S, "mcp-verify-not-governed", OP, "A tools/list without token under policy required is not governed and passes untouched.",
      ["MCP-007"], REQUIRED, {"request": {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}, "era": HANDSHAKE},
      {"governed": False})
bad = copy.deepcopy(REQ_H)
bad["jsonrpc"] = "1.0"
invalid(S, "mcp-verify-not-jsonrpc", OP, "A message whose jsonrpc is not 2.0 is rejected.", ["MCP-010"], REQUIRED,
        {"request": bad, "era": HANDSHAKE}, "MCP_MALFORMED_REQUEST", "mcp-verify-handshake", "jsonrpc 1.0")
bad = copy.deepcopy(REQ_H)
bad["id"] = {"n": 7}
invalid(S, "mcp-verify-id-object", OP, "A tools/call whose id is an object is rejected.", ["MCP-010"], REQUIRED,
        {"request": bad, "era": HANDSHAKE}, "MCP_MALFORMED_REQUEST", "mcp-verify-handshake", "id replaced by {\"n\": 7}")
bad = copy.deepcopy(REQ_H)
bad["params"]["_meta"][TOKEN_KEY] = {"jws": TOKEN}
invalid(S, "mcp-verify-carrier-object", OP, "A token carried as an object, not a string, is rejected.", ["MCP-011"], REQUIRED,
        {"request": bad, "era": HANDSHAKE}, "MCP_CARRIER_INVALID", "mcp-verify-handshake", "token wrapped in an object")
invalid(S, "mcp-verify-cross-era", OP,
        "A handshake-era request presented to a stateless server lacks the protocol version in _meta and is rejected.",
        ["MCP-012"], REQUIRED, {"request": REQ_H, "era": STATELESS}, "MCP_PROTOCOL_VERSION_MISMATCH", "mcp-verify-handshake",
        "processed under 2026-07-28")
other = attach(stateless_request(version="2099-01-01"), JTI_S)
invalid(S, "mcp-verify-version-mismatch", OP, "A request for another revision than the one the server processes it under is rejected.",
        ["MCP-012"], REQUIRED, {"request": other, "era": STATELESS}, "MCP_PROTOCOL_VERSION_MISMATCH", "mcp-verify-stateless",
        "protocolVersion 2099-01-01 in _meta, proof re-made")
undeclared = attach(stateless_request(declare=False), JTI_S)
invalid(S, "mcp-verify-undeclared", OP,
        "A 2026-07-28 request carrying a token without declaring the extension is rejected.", ["MCP-013"], REQUIRED,
        {"request": undeclared, "era": STATELESS}, "MCP_EXTENSION_UNDECLARED", "mcp-verify-stateless",
        "extensions removed from clientCapabilities, proof re-made")
stripped = stateless_request(declare=False)
invalid(S, "mcp-verify-stripped", OP, "Downgrade: a 2026-07-28 request with declaration, token and proof stripped, under policy required.",
        ["MCP-008", "MCP-014"], REQUIRED, {"request": stripped, "era": STATELESS}, "PRF_TOKEN_MISSING", "mcp-verify-stateless",
        "declaration, token and proof removed")
invalid(S, "mcp-verify-handshake-missing", OP, "A 2025-11-25 tools/call without token under policy required is rejected.",
        ["MCP-008", "MCP-014"], REQUIRED, {"request": handshake_request(), "era": HANDSHAKE}, "PRF_TOKEN_MISSING",
        "mcp-verify-handshake", "token and proof removed")
invalid(S, "mcp-verify-replayed", OP, "Replay: the captured 2025-11-25 request sent again verbatim is rejected.",
        ["MCP-014"], ctx(policy="required", seen=[{"iss": ISS, "jti": JTI_H, "expires": NOW + 115}]),
        {"request": REQ_H, "era": HANDSHAKE}, "PRF_REPLAY", "mcp-verify-handshake",
        "the replay store holds (iss, jti) from the first sending")
valid(S, "mcp-verify-optional-absent", OP, "Under policy optional a tools/call without token is accepted and marked unattested.",
      ["MCP-015"], OPTIONAL, {"request": handshake_request(), "era": HANDSHAKE}, {"governed": True, "attested": False})
valid(S, "mcp-verify-optional-valid", OP, "Under policy optional a 2026-07-28 request with a valid token is attested.",
      ["MCP-014"], OPTIONAL, {"request": REQ_S, "era": STATELESS}, dict(OUT, proof_jti=JTI_S))
invalid(S, "mcp-verify-optional-forged", OP, "Under policy optional a present but forged token is rejected, never treated as absent.",
        ["MCP-014"], OPTIONAL, {"request": attach(stateless_request(), JTI_S, tok=FORGED), "era": STATELESS},
        "TOK_SIGNATURE_INVALID", "mcp-verify-optional-valid", "token signed by the attacker's key, proof re-made for it")
# Edge cases that mcp-binding.md decides.
bad = copy.deepcopy(REQ_H)
bad["id"] = None
invalid(S, "mcp-verify-id-null", OP, "A tools/call with id null has an id, which is neither a string nor an integer.", ["MCP-010"], REQUIRED,
        {"request": bad, "era": HANDSHAKE}, "MCP_MALFORMED_REQUEST", "mcp-verify-handshake", "id 7 replaced by null")
ID_FORM = BYTES.replace(b'"id":"call-1"', b'"id":7.0', 1)
assert ID_FORM != BYTES
valid(S, "mcp-verify-id-integer-form", OP, "An id written 7.0 is the integer 7 (json.md, Integers): the request is attested.",
      ["MCP-010", "JSON-015"], REQUIRED, {"data": ID_FORM.hex(), "era": STATELESS}, dict(OUT, proof_jti=JTI_S))
invalid(S, "mcp-verify-id-fraction", OP, "An id of 7.5 is not an integer.", ["MCP-010", "JSON-015"], REQUIRED,
        {"data": ID_FORM.replace(b'"id":7.0', b'"id":7.5').hex(), "era": STATELESS}, "MCP_MALFORMED_REQUEST",
        "mcp-verify-id-integer-form", "id 7.0 written as 7.5")
RESPELLED = BYTES.replace(b'"days":3', b'"days":3.0', 1)
assert RESPELLED != BYTES
valid(S, "mcp-verify-number-respelled", OP, "A number respelled in transit (days 3 as 3.0) keeps the JCS form the proof's ph covers: still attested.",
      ["PRF-014", "MCP-009"], REQUIRED, {"data": RESPELLED.hex(), "era": STATELESS}, dict(OUT, proof_jti=JTI_S))
valid(S, "mcp-verify-method-number", OP, "A message whose method is not a string is no governed request and passes untouched.",
      ["MCP-007"], REQUIRED, {"request": {"jsonrpc": "2.0", "id": 3, "method": 5, "params": {}}, "era": HANDSHAKE}, {"governed": False})
decl_true = stateless_request(declare=False)
decl_true["params"]["_meta"][CC] = {"extensions": {EXT: True}}
invalid(S, "mcp-verify-declared-true", OP, "An extension declared with true instead of a settings object is not declared.", ["MCP-013"],
        REQUIRED, {"request": attach(decl_true, JTI_S), "era": STATELESS}, "MCP_EXTENSION_UNDECLARED", "mcp-verify-stateless",
        "the declaration's settings object {} replaced by true, proof re-made")

# ---------------------------------------------------------------- errors
S, OP = "mcp-error", "mcp.error"
DATA = lambda code: {"code": code, "extension": EXT}


def challenge(error, code):
    return f'AgentAttestation error="{error}", code="{code}"'


for id_, code, rid, status, chal, covers, desc in [
        ("mcp-error-replay", "PRF_REPLAY", "call-1", 401, challenge("invalid_attestation", "PRF_REPLAY"),
         ["MCP-016", "MCP-017", "MCP-019", "MCP-020"], "A replayed proof: -31000 with the registry code in data, HTTP 401 with a challenge."),
        ("mcp-error-token-missing", "PRF_TOKEN_MISSING", 7, 401, challenge("attestation_required", "PRF_TOKEN_MISSING"),
         ["MCP-016", "MCP-019", "MCP-020"], "No token: HTTP 401 asking for attestation; the numeric id is echoed."),
        ("mcp-error-token-invalid", "TOK_EXPIRED", "call-1", 401, challenge("invalid_attestation", "TOK_EXPIRED"),
         ["MCP-019"], "An expired token: HTTP 401."),
        ("mcp-error-denied", "PTL_TOOL_NOT_ALLOWED", "call-1", 403, challenge("access_denied", "PTL_TOOL_NOT_ALLOWED"),
         ["MCP-019"], "A portal denial of an attested agent: HTTP 403."),
        ("mcp-error-malformed", "MCP_EXTENSION_UNDECLARED", "call-1", 400, None,
         ["MCP-019"], "A malformed request: HTTP 400 without a challenge."),
        ("mcp-error-store-full", "PRF_REPLAY_STORE_FULL", "call-1", 503, None,
         ["MCP-019"], "The server cannot record the proof: HTTP 503, the client may retry with a new proof."),
        ("mcp-error-store-unavailable", "PRF_REPLAY_STORE_UNAVAILABLE", "call-1", 503, None,
         ["MCP-019"], "The replay store cannot be reached: HTTP 503, as for a full store."),
        ("mcp-error-no-id", "JSON_SYNTAX", None, 400, None,
         ["MCP-016", "MCP-020"], "A message whose id cannot be read is answered with id null.")]:
    inp = {"code": code}
    if rid is not None:
        inp["id"] = rid
    valid(S, id_, OP, desc, covers, {}, inp,
          {"id": rid, "error_code": -31000, "data": DATA(code), "http_status": status, "www_authenticate": chal})


# ---------------------------------------------------------------- write
vectorlib.write(sections, [DOC.name])

#!/usr/bin/env python3
"""Authoring aid for the vectors of spec/statement.md (forwarding statements).

Every expected value is computed here with libraries that share no code with the Swift
implementation: PyNaCl (libsodium) for Ed25519, rfc8785 for JCS, hashlib for SHA-256.
The script rewrites the region between `<!-- begin vectors: statement-verify -->` and
`<!-- end vectors: statement-verify -->` in spec/statement.md.

Usage: python3 scripts/author_statement_vectors.py   (from the repository root)
"""
import base64
import copy
import hashlib

import nacl.bindings
import rfc8785

import vectorlib

sections = {}
b64u = vectorlib.b64u
S = "statement-verify"
OP = "statement.verify"
KEY = "dev.agent-attestation/statement"
ORIGIN = "portal.example/log/vectors"
AUD = "mcp://search.example"
T0 = 1760000100
MAX_AGE, LEEWAY = 60, 5


def sha(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


def jcs(v) -> bytes:
    return rfc8785.dumps(vectorlib.as_doubles(v))


class Key:
    def __init__(self, seed_byte):
        self.pk, self.sk = nacl.bindings.crypto_sign_seed_keypair(bytes([seed_byte]) * 32)

    def sign(self, msg):
        return nacl.bindings.crypto_sign(msg, self.sk)[:64]

    @property
    def thumbprint(self):
        return b64u(sha(jcs({"crv": "Ed25519", "kty": "OKP", "x": b64u(self.pk)})))

    def vkey(self, name):
        key_id = sha(name.encode() + b"\n\x01" + self.pk)[:4]
        blob = base64.b64encode(b"\x01" + self.pk).decode()
        return f"{name}+{key_id.hex()}+{blob}"


LOG = Key(0x51)
OTHER = Key(0x52)


def statement_params(params):
    """The params a statement's hash covers: the statement member removed from `_meta`,
    and `_meta` removed when it is then empty."""
    p = copy.deepcopy(params)
    meta = p.get("_meta")
    if isinstance(meta, dict):
        meta.pop(KEY, None)
        if not meta:
            del p["_meta"]
    return p


def sign(body, key=LOG, label="statement"):
    s = dict(body)
    s.pop("sig", None)
    msg = b"MCP-ATTEST-v1:" + label.encode() + b"\x00" + jcs(s)
    s["sig"] = {"alg": "Ed25519", "kid": key.thumbprint, "value": b64u(key.sign(msg))}
    return s


def statement(params, seq=41, iat=T0, aud=AUD, log=ORIGIN, key=LOG, label="statement", **extra):
    body = {"type": "mcp-attest/statement/v1", "log": log, "seq": seq, "decision": "ALLOW", "aud": aud, "iat": iat,
            "params_sha256": b64u(sha(jcs(statement_params(params))))}
    body.update(extra)
    return sign(body, key, label)


def attach(params, st):
    p = copy.deepcopy(params)
    p.setdefault("_meta", {})[KEY] = st
    return p


CALL = {"name": "search", "arguments": {"query": "weather in Paris", "limit": 5}, "_meta": {"progressToken": 7}}
ST = statement(CALL)
PARAMS = attach(CALL, ST)
CTX = {"trusted": [LOG.vkey(ORIGIN)], "audience": AUD, "now": T0 + 10, "max_age": MAX_AGE, "leeway": LEEWAY,
       "seen": [], "replay_capacity": 1000}
OUT = {"log": ORIGIN, "seq": 41, "replay_expires": T0 + MAX_AGE + LEEWAY}


def valid(id, description, covers, params, context=CTX, output=OUT):
    vectorlib.valid(sections, S, id, OP, description, covers, {"params": params}, output, context=context)


def invalid(id, description, covers, params, error, mutation, context=CTX, base="stm-verify"):
    vectorlib.invalid(sections, S, id, OP, description, covers, {"params": params}, error, base, mutation,
                      context=context)


valid("stm-verify", "A statement signed by the trusted log key, for this server, fresh, over the params received.",
      ["STM-001", "STM-002", "STM-015"], PARAMS)

# The statement's params: _meta removed when only the statement was in it.
bare = {"name": "search", "arguments": {"query": "weather in Paris", "limit": 5}}
valid("stm-verify-meta-only-statement", "A call whose _meta holds only the statement: the hash is over the params without _meta.",
      ["STM-002"], attach(bare, statement(bare)))
# A hash computed with an empty _meta kept is not the statement's hash.
wrong = dict(bare, _meta={})
invalid("stm-params-empty-meta-kept", "Rejected: the hash was computed over params that keep an empty _meta.",
        ["STM-002", "STM-012"], attach(bare, sign({**statement(bare), "params_sha256": b64u(sha(jcs(wrong)))})),
        "STM_PARAMS_MISMATCH", "params_sha256 computed with an empty _meta kept", base="stm-verify-meta-only-statement")

# Numbers by value: 5.0 in the arguments received is the 5 the portal hashed.
valid("stm-verify-number-by-value", "The params hash is over JCS, so the arguments' 5 and 5.0 are one value.",
      ["STM-002"], attach({"name": "search", "arguments": {"query": "weather in Paris", "limit": 5.0},
                           "_meta": {"progressToken": 7}}, ST))

# 1. missing
invalid("stm-missing", "Rejected: a tools/call sent to the server directly carries no statement.",
        ["STM-004"], CALL, "STM_MISSING", "statement removed from _meta")
invalid("stm-missing-no-meta", "Rejected: a tools/call without _meta carries no statement.",
        ["STM-004"], bare, "STM_MISSING", "statement and _meta removed")

# 2. malformed (each re-signed, so the shape is the one defect)
for name, mutate, why in [
    ("extra-member", lambda b: dict(b, jti="n-1"), "a member outside the table added"),
    ("decision-deny", lambda b: dict(b, decision="DENY"), "decision DENY"),
    ("seq-negative", lambda b: dict(b, seq=-1), "seq negative"),
    ("iat-string", lambda b: dict(b, iat=str(T0)), "iat a string"),
    ("params-hash-short", lambda b: dict(b, params_sha256=b64u(bytes(31))), "params_sha256 of 31 bytes"),
    ("type", lambda b: dict(b, type="mcp-attest/receipt/v1"), "type of a receipt"),
    ("aud-empty", lambda b: dict(b, aud=""), "aud empty"),
]:
    body = {k: v for k, v in ST.items() if k != "sig"}
    invalid(f"stm-malformed-{name}", f"Rejected: {why}.", ["STM-005"], attach(CALL, sign(mutate(body))),
            "STM_MALFORMED", why)
missing_aud = sign({k: v for k, v in ST.items() if k not in ("sig", "aud")})
invalid("stm-malformed-no-aud", "Rejected: aud missing.", ["STM-005"], attach(CALL, missing_aud), "STM_MALFORMED", "aud removed")
invalid("stm-malformed-not-object", "Rejected: the statement is a string.", ["STM-005"],
        attach(CALL, b64u(jcs(ST))), "STM_MALFORMED", "the statement as base64url text")
invalid("stm-malformed-sig-alg", "Rejected: sig.alg is not Ed25519.", ["STM-005"],
        attach(CALL, dict(ST, sig=dict(ST["sig"], alg="EdDSA"))), "STM_MALFORMED", "sig.alg EdDSA")

# 3. trusted keys
invalid("stm-trusted-key-invalid", "Rejected: a trusted key is not a note verifier key.", ["STM-006"], PARAMS,
        "KEY_INVALID", "trusted key with a padding character appended", context=dict(CTX, trusted=[LOG.vkey(ORIGIN) + "="]))

# 4. trust
invalid("stm-key-untrusted", "Rejected: signed by a key that is not trusted, and naming it.", ["STM-007"],
        attach(CALL, statement(CALL, key=OTHER)), "STM_KEY_UNTRUSTED", "signed by another key")
invalid("stm-key-other-log", "Rejected: the trusted key is named for another log than the statement's.", ["STM-007"],
        attach(CALL, statement(CALL, log="portal.example/log/other")), "STM_KEY_UNTRUSTED", "log changed to another origin, re-signed")
valid("stm-verify-two-logs", "Of two trusted logs, the key named for the statement's log verifies it.", ["STM-007"],
      attach(CALL, statement(CALL, log="portal.example/log/other", key=OTHER)),
      context=dict(CTX, trusted=[LOG.vkey(ORIGIN), OTHER.vkey("portal.example/log/other")]),
      output=dict(OUT, log="portal.example/log/other"))
invalid("stm-key-other-log-key", "Rejected: of two trusted logs, the statement names one and is signed by the other's key.",
        ["STM-007"], attach(CALL, statement(CALL, log="portal.example/log/other", key=LOG)), "STM_KEY_UNTRUSTED",
        "signed by the key of the other trusted log", context=dict(CTX, trusted=[LOG.vkey(ORIGIN), OTHER.vkey("portal.example/log/other")]),
        base="stm-verify-two-logs")

# 5. signature
invalid("stm-signature-invalid", "Rejected: seq changed after signing.", ["STM-008"],
        attach(CALL, dict(ST, seq=42)), "STM_SIGNATURE_INVALID", "seq changed without re-signing")
invalid("stm-signed-as-receipt", "Rejected: signed over the receipt label, not statement.", ["STM-008"],
        attach(CALL, statement(CALL, label="receipt")), "STM_SIGNATURE_INVALID", "label receipt")
invalid("stm-signature-short", "Rejected: the signature is 63 bytes.", ["STM-008"],
        attach(CALL, dict(ST, sig=dict(ST["sig"], value=b64u(base64.urlsafe_b64decode(ST["sig"]["value"] + "==")[:63])))),
        "STM_SIGNATURE_INVALID", "signature truncated to 63 bytes")

# 6. audience
invalid("stm-audience-mismatch", "Rejected: a statement for another server.", ["STM-009"],
        attach(CALL, statement(CALL, aud="mcp://files.example")), "STM_AUDIENCE_MISMATCH", "aud of another server")
CAFE = "mcp://caf\u00e9.example"
valid("stm-verify-audience-composed", "An audience with a precomposed letter, the same at both ends.", ["STM-009"],
      attach(CALL, statement(CALL, aud=CAFE)), context=dict(CTX, audience=CAFE))
invalid("stm-audience-equivalent", "Rejected: an audience canonically equivalent but not the same code points.", ["STM-009"],
        attach(CALL, statement(CALL, aud=CAFE)), "STM_AUDIENCE_MISMATCH",
        "the server's audience spelled with e and U+0301 COMBINING ACUTE ACCENT",
        context=dict(CTX, audience="mcp://cafe\u0301.example"), base="stm-verify-audience-composed")

# 7, 8. time
valid("stm-verify-future-edge", "A statement dated now plus the leeway is accepted.", ["STM-010"], PARAMS,
      context=dict(CTX, now=T0 - LEEWAY))
invalid("stm-iat-in-future", "Rejected: dated after now plus the leeway.", ["STM-010"], PARAMS, "STM_IAT_IN_FUTURE",
        "now one second before iat minus the leeway", context=dict(CTX, now=T0 - LEEWAY - 1))
valid("stm-verify-stale-edge", "A statement exactly the largest age plus the leeway old is accepted.", ["STM-011"], PARAMS,
      context=dict(CTX, now=T0 + MAX_AGE + LEEWAY))
invalid("stm-stale", "Rejected: older than the largest age plus the leeway.", ["STM-011"], PARAMS, "STM_STALE",
        "now one second past the largest age plus the leeway", context=dict(CTX, now=T0 + MAX_AGE + LEEWAY + 1))

# 9. params
moved = dict(CALL, arguments={"query": "payroll of every employee", "limit": 5})
invalid("stm-params-moved", "Rejected: the statement of one call moved to other arguments.", ["STM-012"],
        attach(moved, ST), "STM_PARAMS_MISMATCH", "arguments changed")
invalid("stm-params-other-tool", "Rejected: the statement moved to a call of another tool.", ["STM-012"],
        attach(dict(CALL, name="delete"), ST), "STM_PARAMS_MISMATCH", "tool name changed")
invalid("stm-params-meta-added", "Rejected: a _meta member added after the portal signed.", ["STM-012"],
        attach(dict(CALL, _meta={"progressToken": 7, "note": "x"}), ST), "STM_PARAMS_MISMATCH", "a _meta member added")

# 10. replay
seen = [{"log": ORIGIN, "seq": 41, "expires": T0 + MAX_AGE + LEEWAY}]
invalid("stm-replay", "Rejected: the replay cache holds the statement's log and seq.", ["STM-013"], PARAMS, "STM_REPLAY",
        "the statement was accepted before", context=dict(CTX, seen=seen))
valid("stm-verify-other-seq-seen", "A cache holding another seq of the same log does not refuse.", ["STM-013"], PARAMS,
      context=dict(CTX, seen=[{"log": ORIGIN, "seq": 40, "expires": T0 + MAX_AGE + LEEWAY}]))
valid("stm-verify-seen-expired", "A cache entry that expired before now is dropped first.", ["STM-013"], PARAMS,
      context=dict(CTX, seen=[{"log": ORIGIN, "seq": 41, "expires": T0 + 9}]))
full = [{"log": ORIGIN, "seq": s, "expires": T0 + 50} for s in range(3)]
invalid("stm-replay-cache-full", "Rejected: the cache is full of unexpired entries.", ["STM-014"], PARAMS,
        "STM_REPLAY_CACHE_FULL", "cache capacity 3 with 3 unexpired entries", context=dict(CTX, seen=full, replay_capacity=3))
valid("stm-verify-cache-full-of-expired", "A cache at its capacity whose entries all expired before now records the statement.",
      ["STM-014"], PARAMS, context=dict(CTX, seen=[{"log": ORIGIN, "seq": s, "expires": T0 + 9} for s in range(3)], replay_capacity=3))
valid("stm-verify-cache-room", "A cache with room for one more entry records the statement.", ["STM-014"], PARAMS,
      context=dict(CTX, seen=full, replay_capacity=4))

# order: a statement with two defects gives the first step's code
invalid("stm-order-audience-before-params", "Rejected with the audience code: for another server and moved to other arguments.",
        ["STM-015"], attach(moved, statement(CALL, aud="mcp://files.example")), "STM_AUDIENCE_MISMATCH",
        "aud of another server, and arguments changed")
invalid("stm-order-params-before-replay", "Rejected with the params code: moved to other arguments and seen before.",
        ["STM-015"], attach(moved, ST), "STM_PARAMS_MISMATCH", "arguments changed, and the pair in the cache",
        context=dict(CTX, seen=seen))
invalid("stm-order-stale-before-replay", "Rejected as stale, not as a replay.", ["STM-015"], PARAMS, "STM_STALE",
        "now past the largest age, and the pair in the cache",
        context=dict(CTX, now=T0 + MAX_AGE + LEEWAY + 1, seen=[{"log": ORIGIN, "seq": 41, "expires": T0 + MAX_AGE + LEEWAY + 1}]))

vectorlib.write(sections, ["statement.md"])

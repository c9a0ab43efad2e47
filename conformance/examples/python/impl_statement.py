#!/usr/bin/env python3
"""Forwarding statements (statement.md), written from the text of that document.

Op: statement.verify.

A server that accepts only governed calls verifies the statement a portal attached to
each `tools/call` it forwards:

    ReplayCache(capacity)                      the (log, seq) pairs accepted, with expiry
    SQLiteReplayCache(path, capacity)          the same in a SQLite file several processes share
    StatementVerifier(trusted, audience, max_age=60, leeway=5, cache=None)
        .verify(params, now) -> dict           the ten ordered steps of §Verifying a
        statement; raises OpError(STM_* or KEY_INVALID); returns {log, seq, replay_expires}
    statement_params(params) -> dict           the params the statement's hash covers
    sign_statement(seed, log, seq, aud, iat, params) -> dict   (for tests and tools)

Every string is compared by code points; `params` are JSON values as the strict parser
or `json.loads` give them (numbers int or float: JCS reads them as doubles).
"""
from __future__ import annotations

import hashlib
import threading

import attest_core
from attest_core import BadRequest, OpError, b64url_decode, b64url_encode, canonicalize, field
from impl_log import VerifierKey, _same, json_integer, parse_verifier_key, to_model

STATEMENT_KEY = "dev.agent-attestation/statement"
STATEMENT_TYPE = "mcp-attest/statement/v1"
STATEMENT_DOMAIN = "statement"
MEMBERS = ("type", "log", "seq", "decision", "aud", "iat", "params_sha256", "sig")
DEFAULT_MAX_AGE = 60
DEFAULT_LEEWAY = 5
DEFAULT_CAPACITY = 100_000


def statement_params(params: dict) -> dict:
    """`params` with the statement member removed from `_meta`, and `_meta` removed when
    it is then an empty object (statement.md §The statement)."""
    out = dict(params)
    meta = out.get("_meta")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if not _same(k, STATEMENT_KEY)}
        if meta:
            out["_meta"] = meta
        else:
            del out["_meta"]
    return out


def params_digest(params: dict) -> bytes | None:
    """SHA-256 of the JCS of the statement's params; None when they have no JCS form."""
    try:
        return hashlib.sha256(canonicalize(to_model(statement_params(params)))).digest()
    except (BadRequest, ValueError, TypeError, OverflowError, RecursionError):
        return None
    except Exception:  # rfc8785's own errors (a number beyond a double): no hash, no match
        return None


def _malformed(why: str) -> OpError:
    return OpError("STM_MALFORMED", why)


def _b64url(value, length=None) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        raw = b64url_decode(value)
    except OpError:
        return None
    return raw if length is None or len(raw) == length else None


def parse_statement(value) -> tuple[dict, int, int]:
    """Step 2: the shape; returns the statement, its seq and its iat."""
    if not isinstance(value, dict):
        raise _malformed("the statement is not an object")
    if len(value) != len(MEMBERS) or not all(any(_same(k, m) for m in MEMBERS) for k in value):
        raise _malformed("the statement's members are not exactly those of statement.md")
    for name in ("type", "log", "decision", "aud", "params_sha256"):
        if not isinstance(value[name], str):
            raise _malformed(f"{name} is not a string")
    if not _same(value["type"], STATEMENT_TYPE):
        raise _malformed("type")
    if not _same(value["decision"], "ALLOW"):
        raise _malformed("decision is not ALLOW")
    if not value["log"] or not value["aud"]:
        raise _malformed("log or aud is empty")
    seq, iat = json_integer(value["seq"]), json_integer(value["iat"])
    if seq is None or seq < 0 or iat is None or iat < 0:
        raise _malformed("seq or iat is not an integer from 0 to 2^53")
    if _b64url(value["params_sha256"], 32) is None:
        raise _malformed("params_sha256 is not the base64url of 32 bytes")
    sig = value["sig"]
    if (not isinstance(sig, dict) or len(sig) != 3 or not all(any(_same(k, m) for m in ("alg", "kid", "value")) for k in sig)
            or not all(isinstance(v, str) for v in sig.values())):
        raise _malformed("sig is not {alg, kid, value} strings")
    if not _same(sig["alg"], attest_core.ED25519) or _b64url(sig["value"]) is None:
        raise _malformed("sig.alg is not Ed25519, or sig.value is not base64url")
    return value, seq, iat


def signing_input(statement: dict) -> bytes:
    body = {k: v for k, v in statement.items() if not _same(k, "sig")}
    return attest_core.signed_bytes(canonicalize(to_model(body)), STATEMENT_DOMAIN)


class ReplayCache:
    """The (log, seq) pairs of accepted statements, each until its expiry; bounded."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY, entries=()):
        self.capacity = capacity
        self.lock = threading.Lock()
        self.entries: dict[tuple[bytes, int], int] = {}
        for log, seq, expires in entries:
            self.entries[(log.encode("utf-8", "surrogatepass"), seq)] = expires

    def check_and_record(self, log: str, seq: int, expires: int, now: int) -> None:
        with self.lock:
            self._record(log, seq, expires, now)

    def _record(self, log: str, seq: int, expires: int, now: int) -> None:
        # An entry whose expiry is before now counts as dropped; the expired ones are removed
        # when the cache is full, so that a call costs one lookup until then.
        key = (log.encode("utf-8", "surrogatepass"), seq)
        if self.entries.get(key, -1) >= now:
            raise OpError("STM_REPLAY", "this statement was accepted before")
        if len(self.entries) >= self.capacity:
            self.entries = {k: e for k, e in self.entries.items() if e >= now}
        if len(self.entries) >= self.capacity:
            raise OpError("STM_REPLAY_CACHE_FULL", "the replay cache is full of unexpired entries")
        self.entries[key] = expires


class SQLiteReplayCache(ReplayCache):
    """A replay cache in one SQLite file, shared by the server processes that use it (the
    replicas of one server, or a process started by the portal and another started around
    it): a statement accepted by one is a replay at every other."""

    def __init__(self, path, capacity: int = DEFAULT_CAPACITY):
        import sqlite3
        self.capacity = capacity
        self.lock = threading.Lock()  # one connection, used by one thread at a time
        self.db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("CREATE TABLE IF NOT EXISTS statements (log BLOB NOT NULL, seq INTEGER NOT NULL, "
                        "expires INTEGER NOT NULL, PRIMARY KEY (log, seq))")

    def check_and_record(self, log: str, seq: int, expires: int, now: int) -> None:
        with self.lock:
            self._check_and_record(log.encode("utf-8", "surrogatepass"), seq, expires, now)

    def _check_and_record(self, key: bytes, seq: int, expires: int, now: int) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("DELETE FROM statements WHERE expires < ?", (now,))
            if self.db.execute("SELECT 1 FROM statements WHERE log = ? AND seq = ?", (key, seq)).fetchone():
                raise OpError("STM_REPLAY", "this statement was accepted before")
            if self.db.execute("SELECT count(*) FROM statements").fetchone()[0] >= self.capacity:
                raise OpError("STM_REPLAY_CACHE_FULL", "the replay cache is full of unexpired entries")
            self.db.execute("INSERT INTO statements (log, seq, expires) VALUES (?, ?, ?)", (key, seq, expires))
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise


class StatementVerifier:
    """statement.md §Verifying a statement, for a server given its trusted log keys
    (note verifier keys, or their text), its audience, the largest age and the leeway."""

    def __init__(self, trusted, audience: str, max_age: int = DEFAULT_MAX_AGE, leeway: int = DEFAULT_LEEWAY,
                 cache: ReplayCache | None = None):
        self.trusted = trusted
        self.audience = audience
        self.max_age = max_age
        self.leeway = leeway
        self.cache = cache if cache is not None else ReplayCache()

    def verify(self, params, now: int) -> dict:
        # 1. the statement
        meta = params.get("_meta") if isinstance(params, dict) else None
        if not isinstance(meta, dict) or not any(_same(k, STATEMENT_KEY) for k in meta):
            raise OpError("STM_MISSING", "the tools/call carries no forwarding statement")
        statement = next(v for k, v in meta.items() if _same(k, STATEMENT_KEY))
        # 2. structure
        statement, seq, iat = parse_statement(statement)
        # 3. the trusted keys
        keys = [k if isinstance(k, VerifierKey) else parse_verifier_key(k) for k in self.trusted]
        # 4. trust
        key = next((k for k in keys if _same(k.name, statement["log"]) and _same(k.thumbprint, statement["sig"]["kid"])), None)
        if key is None:
            raise OpError("STM_KEY_UNTRUSTED", "no trusted log key for this log and kid")
        # 5. signature
        signature = b64url_decode(statement["sig"]["value"])
        if len(signature) != 64 or not attest_core.ed25519_verify_libsodium_policy(key.public_key, signing_input(statement), signature):
            raise OpError("STM_SIGNATURE_INVALID", "the statement's signature does not verify")
        # 6. audience
        if not _same(statement["aud"], self.audience):
            raise OpError("STM_AUDIENCE_MISMATCH", "the statement is for another server")
        # 7, 8. time
        if iat > now + self.leeway:
            raise OpError("STM_IAT_IN_FUTURE", "the statement is dated in the future")
        if now - iat > self.max_age + self.leeway:
            raise OpError("STM_STALE", "the statement is older than the largest age")
        # 9. the call
        digest = params_digest(params)
        if digest is None or not _same(b64url_encode(digest), statement["params_sha256"]):
            raise OpError("STM_PARAMS_MISMATCH", "the statement is for other params")
        # 10. replay
        expires = iat + self.max_age + self.leeway
        self.cache.check_and_record(statement["log"], seq, expires, now)
        return {"log": statement["log"], "seq": seq, "replay_expires": expires}


def sign_statement(seed: bytes, log: str, seq: int, aud: str, iat: int, params: dict) -> dict:
    """The statement a portal with log key `seed` attaches to `params` (statement.md)."""
    body = {"type": STATEMENT_TYPE, "log": log, "seq": seq, "decision": "ALLOW", "aud": aud, "iat": iat,
            "params_sha256": b64url_encode(params_digest(params))}
    public_key, signature = attest_core.ed25519_sign(seed, signing_input(body))
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(public_key)}
    body["sig"] = {"alg": "Ed25519", "kid": b64url_encode(hashlib.sha256(canonicalize(jwk)).digest()),
                   "value": b64url_encode(signature)}
    return body


def _context_int(context: dict, name: str, default: int) -> int:
    if name not in context:
        return default
    value = json_integer(context[name])
    if value is None or value < 0:
        raise BadRequest(f"context {name} is not a non-negative integer")
    return value


def op_statement_verify(context: dict, inp: dict) -> dict:
    params = field(inp, "params", kind=dict)
    trusted = context.get("trusted", [])
    if not isinstance(trusted, list) or not isinstance(context.get("audience"), str):
        raise BadRequest("context trusted is a list and audience a string")
    entries = []
    for e in context.get("seen", []):
        if not isinstance(e, dict) or not isinstance(e.get("log"), str) or json_integer(e.get("seq")) is None \
                or json_integer(e.get("expires")) is None:
            raise BadRequest("seen entries are {log, seq, expires}")
        entries.append((e["log"], json_integer(e["seq"]), json_integer(e["expires"])))
    cache = ReplayCache(_context_int(context, "replay_capacity", DEFAULT_CAPACITY), entries)
    verifier = StatementVerifier(trusted, context["audience"], _context_int(context, "max_age", DEFAULT_MAX_AGE),
                                 _context_int(context, "leeway", DEFAULT_LEEWAY), cache)
    return verifier.verify(params, _context_int(context, "now", 0))


OPS = {"statement.verify": op_statement_verify}

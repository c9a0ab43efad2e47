#!/usr/bin/env python3
"""The identity ops: attestation tokens and operator attestations (token.md), per-request
proofs and request verification (proof.md).

Every verifier here runs its document's numbered steps in order and raises the code of
the first that fails (token.md TOK-034, errors.md ERR-002). Names are compared with
Python str equality, which is code point equality: no Unicode normalization anywhere.
The clock, the trust configuration and the replay store's contents are inputs.
"""

from __future__ import annotations

import hashlib
import re

from attest_core import (
    ED25519,
    MLDSA65,
    SEED_LENGTH,
    BadRequest,
    OpError,
    _require_mldsa,
    b64url_decode,
    b64url_encode,
    canonicalize,
    check_exact_numbers,
    field,
    from_hex,
    parse_jwk_key,
    parse_jwks_keys,
    parse_strict_json,
    sign_bytes,
    signature_valid,
)

SUITES = (ED25519, MLDSA65)
LEGACY_ALG = "EdDSA"

DEFAULT_LEEWAY = 60  # TOK-041
DEFAULT_MAX_LIFETIME = 86400  # TOK-041
DEFAULT_PROOF_MAX_AGE = 60  # proof.md, PRF-016
MAX_STRING_CLAIM = 1024  # code points, for every string claim but jti
MAX_JTI_LENGTH = 256
MAX_SAFE_INTEGER = 2**53  # json.md: integers of this specification stay within +-2^53
JWS_MAX_DEPTH = 16  # token.md, envelope step 4
MAX_SPIFFE_ID_BYTES = 2048
MAX_TRUST_DOMAIN = 255
DEFAULT_REPLAY_CAPACITY = 1024  # not a protocol value: the size of the op's store

CARRIER_TOKEN = "dev.agent-attestation/token"
CARRIER_PROOF = "dev.agent-attestation/proof"
CARRIER_OPERATOR = "dev.agent-attestation/operator"
CARRIERS = (CARRIER_TOKEN, CARRIER_PROOF, CARRIER_OPERATOR)


# --- The compact JWS envelope (token.md §Verification of the envelope) ------------------


class JwsType:
    def __init__(self, typ: str, key_parameter: str, limit: int):
        self.typ = typ
        self.key_parameter = key_parameter  # "kid" or "jwk"
        self.header_parameters = ("alg", "typ", key_parameter)
        self.limit = limit


TOKEN = JwsType("agent-attestation+jwt", "kid", 8192)
PROOF = JwsType("agent-proof+jwt", "jwk", 16384)
OPERATOR = JwsType("operator-attestation+jwt", "kid", 8192)


class Jws:
    def __init__(self, text: str, header: dict, payload: dict, signing_input: bytes, signature: bytes):
        self.text = text
        self.header = header
        self.payload = payload
        self.signing_input = signing_input
        self.signature = signature

    @property
    def alg(self) -> str:
        return self.header["alg"]


def _ascii_lower(text: str) -> str:
    # Only A-Z: str.lower() would also fold U+212A KELVIN SIGN to "k".
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def _typ_matches(typ, expected: str) -> bool:
    """TOK-014: ASCII letters compare case-insensitively; an application/ prefix is ignored."""
    if not isinstance(typ, str):
        return False
    typ = _ascii_lower(typ)
    if typ.startswith("application/"):
        typ = typ[len("application/") :]
    return typ == expected


def _segment_json(segment: bytes):
    # Header and payload go through the strict parser (json.md) with a nesting limit of 16.
    return parse_strict_json(segment, max_depth=JWS_MAX_DEPTH)


def parse_jws(text: str, kind: JwsType, accept_eddsa: bool) -> Jws:
    """Envelope steps 1 to 9, in order; the key is looked up by the caller."""
    # 1. The size limit, on the text as received (its UTF-8 bytes; a JWS is ASCII).
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) > kind.limit:
        raise OpError("JWS_TOO_LARGE", f"{len(raw)} bytes > {kind.limit}")
    # 2. Three segments.
    segments = text.split(".")
    if len(segments) != 3:
        raise OpError("JWS_MALFORMED", f"{len(segments)} segments, not 3")
    # 3. Each segment strict base64url: header, payload, signature.
    header_bytes, payload_bytes, signature = (b64url_decode(s) for s in segments)
    # 4. Header, then payload: strict JSON, each an object.
    header = _segment_json(header_bytes)
    if not isinstance(header, dict):
        raise OpError("JWS_MALFORMED", "the header is not a JSON object")
    payload = _segment_json(payload_bytes)
    if not isinstance(payload, dict):
        raise OpError("JWS_MALFORMED", "the payload is not a JSON object")
    # 5. alg.
    alg = header.get("alg")
    if alg == LEGACY_ALG:
        if not accept_eddsa:
            raise OpError("JWS_ALG_DEPRECATED", "EdDSA without the legacy option")
    elif not (isinstance(alg, str) and alg in SUITES):
        raise OpError("JWS_ALG_NOT_ALLOWED", f"alg {alg!r}")
    # 6. typ.
    if "typ" not in header:
        raise OpError("JWS_TYP_MISSING")
    if not _typ_matches(header["typ"], kind.typ):
        raise OpError("JWS_TYP_INVALID", f"typ {header['typ']!r} is not {kind.typ}")
    # 7. crit.
    if "crit" in header:
        raise OpError("JWS_CRIT_UNSUPPORTED")
    # 8. No other header parameter.
    for name in header:
        if name not in kind.header_parameters:
            raise OpError("JWS_HEADER_UNSUPPORTED", f"header parameter {name!r}")
    # 9. The key parameter of the type.
    key = header.get(kind.key_parameter)
    if not isinstance(key, dict if kind.key_parameter == "jwk" else str):
        raise OpError("JWS_KEY_MISSING", f"no {kind.key_parameter}")
    signing_input = (segments[0] + "." + segments[1]).encode("ascii")
    return Jws(text, header, payload, signing_input, signature)


def alg_names_suite(alg: str, suite: str, accept_eddsa: bool) -> bool:
    """TOK-011, TOK-012: alg names the key's suite; EdDSA (legacy option) only an Ed25519 key."""
    if alg == LEGACY_ALG:
        return accept_eddsa and suite == ED25519
    return alg == suite


def token_hash(token: str) -> str:
    """The base64url SHA-256 of a token's ASCII bytes (ath, tkh, token_hash)."""
    return b64url_encode(hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest())


# --- Claim forms ---------------------------------------------------------------------------

_SPIFFE_RE = re.compile(r"spiffe://([a-z0-9._-]+)((?:/[A-Za-z0-9._-]+)+)")


def spiffe_trust_domain(value: str):
    """The trust domain of a SPIFFE ID of token.md's form, or None."""
    m = _SPIFFE_RE.fullmatch(value)
    # Every character the pattern admits is ASCII, so characters are bytes here.
    if not m or len(value) > MAX_SPIFFE_ID_BYTES or len(m.group(1)) > MAX_TRUST_DOMAIN:
        return None
    if any(segment in (".", "..") for segment in m.group(2).split("/")[1:]):
        return None
    return m.group(1)


def as_integer(value):
    """The integer a JSON number denotes when its double is integral and within +-2^53,
    else None. Numbers are read as doubles (an int from json.loads is rounded first)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        double = float(value)
    except OverflowError:
        return None
    if not double.is_integer() or abs(double) > MAX_SAFE_INTEGER:
        return None
    return int(double)


def is_time(value) -> bool:
    """A NumericDate of token.md: an integer from 0 to 2^53."""
    t = as_integer(value)
    return t is not None and t >= 0


def is_sha256_b64(value) -> bool:
    """43 base64url characters that decode to 32 bytes (cnf.jkt, ph, ath, tkh)."""
    if not isinstance(value, str) or len(value) != 43:
        return False
    try:
        return len(b64url_decode(value)) == 32
    except OpError:
        return False


def _string_claim(value, limit: int = MAX_STRING_CLAIM) -> bool:
    """A string claim: non-empty, at most limit characters. Characters are code points
    (Python len), never grapheme clusters or UTF-16 code units."""
    return isinstance(value, str) and 0 < len(value) <= limit


def _https(value) -> bool:
    """TOK-020: `https://` followed by at least one more code point."""
    return isinstance(value, str) and value.startswith("https://") and len(value) > len("https://")


def _jti(value) -> bool:
    return _string_claim(value, MAX_JTI_LENGTH)


# --- Context ------------------------------------------------------------------------------


def _number(context: dict, name: str, default=None):
    value = context.get(name, default)
    if value is None:
        raise BadRequest(f"context has no {name!r}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"context {name!r} is not a number")
    return value


class Trusted:
    """A configured issuer or operator: its identifier, its key set and (issuers only)
    the SPIFFE trust domains bound to it."""

    def __init__(self, entry):
        if not isinstance(entry, dict) or not isinstance(entry.get("iss"), str):
            raise BadRequest("a trusted issuer or operator is not an object with a string iss")
        if "jwks" not in entry:
            raise BadRequest("a trusted issuer or operator has no jwks")
        self.iss = entry["iss"]
        # Parsed with keys.md's rules (KEY-013: a set with a bad key is refused whole), up
        # front, so a bad configuration fails every verification alike.
        self.keys = {kid: (alg, raw) for kid, alg, raw in parse_jwks_keys(entry.get("jwks"))}
        # Only strings can name a trust domain; anything else binds none.
        domains = entry.get("trust_domains")
        self.trust_domains = [d for d in domains if isinstance(d, str)] if isinstance(domains, list) else []

    def key(self, kid: str):
        """(suite, public key) of kid in this key set, kids compared by code points; or None."""
        return self.keys.get(kid)


class Trust:
    """The verifier's inputs of token.md: clock, audience, issuers, operators, options."""

    def __init__(self, context: dict):
        self.now = as_integer(context.get("now"))
        if self.now is None:
            raise BadRequest("context has no integer now")
        audience = context.get("audience")
        if not isinstance(audience, str):
            raise BadRequest("context audience is not a string")
        self.audience = audience
        self.leeway = _number(context, "leeway", DEFAULT_LEEWAY)
        self.max_lifetime = _number(context, "max_lifetime", DEFAULT_MAX_LIFETIME)
        self.proof_max_age = _number(context, "proof_max_age", DEFAULT_PROOF_MAX_AGE)
        self.accept_eddsa = context.get("accept_eddsa") is True
        self.require_operator = context.get("require_operator") is True
        self.issuers = self._entries(context, "issuers")
        self.operators = self._entries(context, "operators")

    @staticmethod
    def _entries(context: dict, name: str) -> list:
        entries = context.get(name, [])
        if not isinstance(entries, list):
            raise BadRequest(f"context {name} is not an array")
        return [Trusted(entry) for entry in entries]

    @staticmethod
    def find(entries: list, iss: str):
        """The first configured entry whose iss is exactly iss (code points), or None."""
        for entry in entries:
            if entry.iss == iss:
                return entry
        return None


# --- token.verify (token.md §Verifying a token) --------------------------------------------


def _require(payload: dict, name: str, valid, missing="TOK_CLAIM_MISSING", invalid="TOK_CLAIM_INVALID"):
    if name not in payload:
        raise OpError(missing, f"no {name}")
    value = payload[name]
    if not valid(value):
        raise OpError(invalid, f"{name} is malformed")
    return value


def _optional(payload: dict, name: str, valid, invalid="TOK_CLAIM_INVALID"):
    if name in payload and not valid(payload[name]):
        raise OpError(invalid, f"{name} is malformed")
    return payload.get(name)


# agent.operator names an operator (an HTTPS URL by convention) but is checked only as
# a string claim: it is compared with an operator attestation's iss, never fetched.
AGENT_MEMBERS = ("provider", "model_family", "model_version", "deployment", "operator")


def check_token_claims(payload: dict) -> dict:
    """Step 7: the claims in the table's order, each present when required, then of its
    type and form, before the next claim is looked at."""
    # iss is present and an https URL (step 2); here it is a string claim like the others.
    _require(payload, "iss", _string_claim)
    _require(payload, "sub", lambda v: _string_claim(v) and spiffe_trust_domain(v) is not None)
    _require(payload, "aud", lambda v: isinstance(v, str), invalid="TOK_AUDIENCE_NOT_STRING")
    if not _string_claim(payload["aud"]):
        raise OpError("TOK_CLAIM_INVALID", "aud is empty or too long")
    _require(payload, "iat", is_time)
    _optional(payload, "nbf", is_time)
    _require(payload, "exp", is_time)
    _require(payload, "jti", _jti)
    # A cnf that is not an object holding jkt binds no key: TOK_CNF_MISSING.
    cnf = payload.get("cnf")
    if not (isinstance(cnf, dict) and "jkt" in cnf):
        raise OpError("TOK_CNF_MISSING", "no cnf object with a jkt")
    _require(cnf, "jkt", is_sha256_b64)
    agent = _require(payload, "agent", lambda v: isinstance(v, dict))
    for name in AGENT_MEMBERS:
        _require(agent, name, _string_claim)
    _optional(agent, "safety_level", _string_claim)
    # TOK-040: members of agent not in the table are ignored, and not reported.
    reported = {name: agent[name] for name in AGENT_MEMBERS}
    if "safety_level" in agent:
        reported["safety_level"] = agent["safety_level"]
    return reported


def verify_token(token: str, trust: Trust, operator_attestation=None) -> dict:
    """token.md §Verifying a token, steps 1 to 14; returns the verified identity."""
    jws = parse_jws(token, TOKEN, trust.accept_eddsa)  # step 1
    payload = jws.payload
    # 2. iss present and an https URL.
    iss = _require(payload, "iss", _https)
    # 3. A trusted issuer, exactly.
    issuer = Trust.find(trust.issuers, iss)
    if issuer is None:
        raise OpError("TOK_ISSUER_UNTRUSTED", iss)
    # 4. kid in that issuer's key set, and no other.
    kid = jws.header["kid"]
    key = issuer.key(kid)
    if key is None:
        raise OpError("TOK_KID_UNKNOWN", kid)
    suite, public_key = key
    # 5. alg names the key's suite.
    if not alg_names_suite(jws.alg, suite, trust.accept_eddsa):
        raise OpError("JWS_ALG_KEY_MISMATCH", f"alg {jws.alg} with a {suite} key")
    # 6. The signature.
    if not signature_valid(suite, public_key, jws.signing_input, jws.signature):
        raise OpError("TOK_SIGNATURE_INVALID")
    # 7. The claims.
    agent = check_token_claims(payload)
    # 8. Audience.
    if payload["aud"] != trust.audience:
        raise OpError("TOK_AUDIENCE_MISMATCH", payload["aud"])
    now, leeway = trust.now, trust.leeway
    iat, exp, nbf = payload["iat"], payload["exp"], payload.get("nbf")
    # 9-12. Times.
    if now > exp + leeway:
        raise OpError("TOK_EXPIRED")
    if nbf is not None and nbf > now + leeway:
        raise OpError("TOK_NOT_YET_VALID")
    if iat > now + leeway:
        raise OpError("TOK_IAT_IN_FUTURE")
    if not 0 < exp - iat <= trust.max_lifetime:
        raise OpError("TOK_LIFETIME_EXCEEDED", f"exp - iat = {exp - iat}")
    # 13. The trust domain of sub is bound to iss.
    if spiffe_trust_domain(payload["sub"]) not in issuer.trust_domains:
        raise OpError("TOK_SUBJECT_DOMAIN_MISMATCH", payload["sub"])
    result = {
        "iss": iss,
        "sub": payload["sub"],
        "aud": payload["aud"],
        "jti": payload["jti"],
        "kid": kid,
        "alg": jws.alg,
        "jkt": payload["cnf"]["jkt"],
        "agent": agent,
        "exp": _integer(exp),
        "token_hash": token_hash(token),
    }
    # 14. Policies: the operator attestation, when the policy requires one. A verifier
    # that does not require it ignores one that is presented.
    if trust.require_operator:
        if operator_attestation is None:
            raise OpError("TOK_OPERATOR_MISSING")
        operator = verify_operator_attestation(operator_attestation, result, trust)
        result["operator"] = {"iss": operator["operator"], "deployment": operator["deployment"]}
    return result


def _integer(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value


# --- Operator attestations (token.md §Operator attestations) ------------------------------


def verify_operator_attestation(attestation: str, token: dict, trust: Trust) -> dict:
    """Steps 1 to 6, after every token step; token is the verified token's result."""
    jws = parse_jws(attestation, OPERATOR, trust.accept_eddsa)  # 1
    payload = jws.payload
    # 2. iss, then a trusted operator with kid in its key set.
    iss = _require(payload, "iss", _string_claim)
    operator = Trust.find(trust.operators, iss)
    kid = jws.header["kid"]
    key = operator.key(kid) if operator is not None else None
    if key is None:
        raise OpError("TOK_OPERATOR_UNTRUSTED", f"{iss} / {kid}")
    suite, public_key = key
    # 3. alg, then the signature.
    if not alg_names_suite(jws.alg, suite, trust.accept_eddsa):
        raise OpError("JWS_ALG_KEY_MISMATCH", f"alg {jws.alg} with a {suite} key")
    if not signature_valid(suite, public_key, jws.signing_input, jws.signature):
        raise OpError("TOK_OPERATOR_SIGNATURE_INVALID")
    # 4. The other claims.
    iat = _require(payload, "iat", is_time)
    deployment = _require(payload, "deployment", _string_claim)
    tkh = _require(payload, "tkh", _string_claim)
    if not is_sha256_b64(tkh):
        raise OpError("TOK_CLAIM_INVALID", "tkh is not the base64url of 32 bytes")
    # 5. iat.
    if iat > trust.now + trust.leeway:
        raise OpError("TOK_IAT_IN_FUTURE", "operator attestation")
    # 6. The binding to this token.
    if tkh != token["token_hash"] or iss != token["agent"]["operator"] or deployment != token["agent"]["deployment"]:
        raise OpError("TOK_OPERATOR_BINDING_MISMATCH")
    return {"operator": iss, "deployment": deployment, "kid": kid, "sub": token["sub"]}


# --- Proofs (proof.md §Verifying a proof) --------------------------------------------------


class ReplayStore:
    """The replay store of one verification: the entries it holds (context `seen`) and
    its capacity (context `replay_capacity`). An entry is kept until its expiry and may be
    dropped only after it (PRF-019); a full store never evicts an unexpired entry."""

    def __init__(self, context: dict):
        seen = context.get("seen", [])
        if not isinstance(seen, list):
            raise BadRequest("context seen is not an array")
        self.entries = {}
        for entry in seen:
            iss, jti, expires = field(entry, "iss"), field(entry, "jti"), _number(entry, "expires")
            self.entries[(iss, jti)] = expires
        capacity = context.get("replay_capacity", DEFAULT_REPLAY_CAPACITY)
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 0:
            raise BadRequest("context replay_capacity is not a non-negative integer")
        self.capacity = capacity

    def record(self, iss: str, jti: str, expires, now) -> None:
        """Check and insert (iss, jti) as one step."""
        self.entries = {k: e for k, e in self.entries.items() if e >= now}  # expired: e < now
        if (iss, jti) in self.entries:
            raise OpError("PRF_REPLAY", f"({iss}, {jti}) was already accepted")
        if len(self.entries) >= self.capacity:
            raise OpError("PRF_REPLAY_STORE_FULL")
        self.entries[(iss, jti)] = expires


def params_hash(params) -> str:
    """PRF-002: base64url SHA-256 of the JCS form of params with the three carrier members
    removed from params._meta (an emptied _meta stays, as {})."""
    if isinstance(params, dict) and isinstance(params.get("_meta"), dict):
        meta = {k: v for k, v in params["_meta"].items() if k not in CARRIERS}
        params = dict(params, _meta=meta)
    return b64url_encode(hashlib.sha256(canonicalize(params)).digest())


def verify_proof(proof: str, token: dict, method, params, trust: Trust, store: ReplayStore) -> dict:
    """Steps 1 to 12 for a proof whose token has been verified (its result is token)."""
    # 1. The envelope of a proof.
    jws = parse_jws(proof, PROOF, trust.accept_eddsa)
    # 2. The header jwk, then alg against its suite.
    thumbprint, _, suite, public_key = parse_jwk_key(jws.header["jwk"])
    if not alg_names_suite(jws.alg, suite, trust.accept_eddsa):
        raise OpError("JWS_ALG_KEY_MISMATCH", f"alg {jws.alg} with a {suite} key")
    # 3. The key is the one the token's cnf.jkt names.
    if thumbprint != token["jkt"]:
        raise OpError("PRF_KEY_MISMATCH")
    # 4. The signature.
    if not signature_valid(suite, public_key, jws.signing_input, jws.signature):
        raise OpError("PRF_SIGNATURE_INVALID")
    # 5. The claims, in this order, each present and of its type; then the two hashes'
    # form (43 base64url characters of 32 bytes).
    p = jws.payload
    types = (("mth", _string_claim), ("ph", _string_claim), ("aud", _string_claim),
             ("iat", is_time), ("jti", _jti), ("ath", _string_claim))
    for name, valid in types:
        _require(p, name, valid, missing="PRF_CLAIM_MISSING", invalid="PRF_CLAIM_INVALID")
    if not (is_sha256_b64(p["ph"]) and is_sha256_b64(p["ath"])):
        raise OpError("PRF_CLAIM_INVALID", "ph or ath is not the base64url of 32 bytes")
    # 6-8. Token hash, method, audience.
    if p["ath"] != token["token_hash"]:
        raise OpError("PRF_TOKEN_HASH_MISMATCH")
    if p["mth"] != method:
        raise OpError("PRF_METHOD_MISMATCH", f"{p['mth']!r} is not {method!r}")
    if p["aud"] != trust.audience:
        raise OpError("PRF_AUDIENCE_MISMATCH", p["aud"])
    # 9. Exact numbers in params, then the params hash.
    check_exact_numbers(params)
    if p["ph"] != params_hash(params):
        raise OpError("PRF_PARAMS_HASH_MISMATCH")
    # 10-11. The acceptance window.
    iat, now, leeway = p["iat"], trust.now, trust.leeway
    if iat > now + leeway:
        raise OpError("PRF_IAT_IN_FUTURE")
    expires = iat + trust.proof_max_age + leeway
    if now > expires:
        raise OpError("PRF_STALE")
    # 12. The replay store, last.
    store.record(token["iss"], p["jti"], expires, now)
    return {"jti": p["jti"], "iat": _integer(iat), "replay_expires": _integer(expires), "iss": token["iss"]}


# --- request.verify (proof.md §Verifying a request) ---------------------------------------


def params_meta(request: dict) -> dict:
    """An object params whose _meta, if present, is an object (MCP_MALFORMED_REQUEST);
    returns params._meta ({} when absent)."""
    params = request.get("params")
    if not isinstance(params, dict):
        raise OpError("MCP_MALFORMED_REQUEST", "params is not an object")
    meta = params.get("_meta", {})
    if not isinstance(meta, dict):
        raise OpError("MCP_MALFORMED_REQUEST", "params._meta is not an object")
    return meta


def check_request_shape(request) -> dict:
    """PRF-028: a string method, an object params whose _meta, if present, is an object
    (MCP_MALFORMED_REQUEST); each carrier member present a string (MCP_CARRIER_INVALID).
    Returns params._meta ({} when absent)."""
    if not isinstance(request, dict) or not isinstance(request.get("method"), str):
        raise OpError("MCP_MALFORMED_REQUEST", "no string method")
    meta = params_meta(request)
    for name in CARRIERS:
        if name in meta and not isinstance(meta[name], str):
            raise OpError("MCP_CARRIER_INVALID", f"{name} is not a string")
    return meta


def request_policy(context: dict) -> str:
    policy = context.get("policy", "required")
    if policy not in ("required", "optional"):
        raise BadRequest("context policy is neither required nor optional")
    return policy


def verify_request(request, policy: str, trust: Trust, store: ReplayStore) -> dict:
    meta = check_request_shape(request)
    if CARRIER_TOKEN not in meta:
        if policy == "optional" and not any(name in meta for name in CARRIERS):
            return {"attested": False}
        raise OpError("PRF_TOKEN_MISSING")
    token = verify_token(meta[CARRIER_TOKEN], trust, meta.get(CARRIER_OPERATOR))
    if CARRIER_PROOF not in meta:
        raise OpError("PRF_MISSING")
    proof = verify_proof(meta[CARRIER_PROOF], token, request["method"], request["params"], trust, store)
    return dict(token, attested=True, proof_jti=proof["jti"])


# --- Ops ------------------------------------------------------------------------------------


def check_signing_key(alg, seed: bytes) -> None:
    """A signer's algorithm is one of the suites (ALG_UNSUPPORTED) and its seed 32 bytes (KEY_INVALID)."""
    if not (isinstance(alg, str) and alg in SUITES):
        raise OpError("ALG_UNSUPPORTED", f"{alg!r}")
    if alg == MLDSA65:
        _require_mldsa()
    if len(seed) != SEED_LENGTH:
        raise OpError("KEY_INVALID", f"a seed is 32 bytes, not {len(seed)}")


def op_token_issue(context: dict, inp: dict) -> dict:
    alg = field(inp, "alg", kind=None)
    seed = from_hex(field(inp, "seed"), "seed")
    claims = field(inp, "claims", kind=dict)
    check_signing_key(alg, seed)
    token, kid = issue_jws(alg, seed, TOKEN, claims)
    return {"token": token, "kid": kid}


def public_jwk(alg: str, public_key: bytes) -> dict:
    if alg == ED25519:
        return {"crv": "Ed25519", "kty": "OKP", "x": b64url_encode(public_key)}
    return {"alg": MLDSA65, "kty": "AKP", "pub": b64url_encode(public_key)}


def issue_jws(alg: str, seed: bytes, kind: JwsType, payload: dict) -> tuple[str, str]:
    """A compact JWS with JCS header {alg, typ, kid or jwk} and JCS payload (TOK-001..004,
    PRF-001); returns (jws, the key's thumbprint)."""
    public_key, _ = sign_bytes(alg, seed, b"")
    jwk = public_jwk(alg, public_key)
    thumbprint = b64url_encode(hashlib.sha256(canonicalize(jwk)).digest())
    header = {"alg": alg, "typ": kind.typ, kind.key_parameter: thumbprint if kind.key_parameter == "kid" else jwk}
    signing_input = b64url_encode(canonicalize(header)) + "." + b64url_encode(canonicalize(payload))
    _, signature = sign_bytes(alg, seed, signing_input.encode("ascii"))
    return signing_input + "." + b64url_encode(signature), thumbprint


def _operator_attestation(inp: dict):
    attestation = inp.get("operator_attestation")
    if attestation is not None and not isinstance(attestation, str):
        raise BadRequest("operator_attestation is not a string")
    return attestation


def op_token_verify(context: dict, inp: dict) -> dict:
    return verify_token(field(inp, "token"), Trust(context), _operator_attestation(inp))


def op_operator_verify(context: dict, inp: dict) -> dict:
    trust = Trust(context)
    trust.require_operator = False  # checked below, always
    token = verify_token(field(inp, "token"), trust)
    return verify_operator_attestation(field(inp, "attestation"), token, trust)


def op_proof_verify(context: dict, inp: dict) -> dict:
    trust, store = Trust(context), ReplayStore(context)
    token = verify_token(field(inp, "token"), trust, _operator_attestation(inp))
    method = field(inp, "method")
    params = field(inp, "params", kind=None)
    return verify_proof(field(inp, "proof"), token, method, params, trust, store)


def op_request_verify(context: dict, inp: dict) -> dict:
    # The verifier's configuration is read first, so a bad one fails every request alike.
    trust, policy, store = Trust(context), request_policy(context), ReplayStore(context)
    return verify_request(field(inp, "request", kind=None), policy, trust, store)


OPS = {
    "token.issue": op_token_issue,
    "token.verify": op_token_verify,
    "operator.verify": op_operator_verify,
    "proof.verify": op_proof_verify,
    "request.verify": op_request_verify,
}

#!/usr/bin/env python3
"""The MCP binding ops (mcp-binding.md): attaching token and proof to a request, verifying
a JSON-RPC message in either era, and the rejection a server sends."""

from __future__ import annotations

import copy
import re
import unicodedata

from attest_core import BadRequest, OpError, field, from_hex, parse_strict_json
from impl_identity import (
    CARRIER_OPERATOR,
    CARRIER_PROOF,
    CARRIER_TOKEN,
    CARRIERS,
    PROOF,
    ReplayStore,
    Trust,
    as_integer,
    check_signing_key,
    issue_jws,
    params_hash,
    params_meta,
    request_policy,
    token_hash,
    verify_request,
)

EXTENSION = "dev.agent-attestation/v1"
PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
FIRST_STATELESS_REVISION = "2026-07-28"
GOVERNED_METHODS = ("tools/call",)
ERROR_CODE = -31000

def is_stateless(era) -> bool:
    """Revisions 2026-07-28 and later are the stateless era. Revisions compare by their
    code points, which for dates written YYYY-MM-DD is their date order."""
    if not isinstance(era, str):
        raise BadRequest("era is not a string")
    return era >= FIRST_STATELESS_REVISION  # Python compares str by code points


def is_governed(method) -> bool:
    """A governed name, or canonically equivalent to one: the one comparison of this binding
    that is not by code points, and it fails closed (more messages are verified)."""
    if not isinstance(method, str):
        return False
    nfd = unicodedata.normalize("NFD", method)
    return any(nfd == unicodedata.normalize("NFD", name) for name in GOVERNED_METHODS)


def governed_request(message):
    """Steps 2 to 4: None for a message that is not a governed request; else the request's
    params._meta ({} when absent)."""
    # 2. A JSON-RPC 2.0 object.
    if not isinstance(message, dict) or not (isinstance(message.get("jsonrpc"), str) and message["jsonrpc"] == "2.0"):
        raise OpError("MCP_MALFORMED_REQUEST", "not a JSON-RPC 2.0 object")
    # 3. Not a governed request: passes unchanged.
    if "method" not in message or "id" not in message or not is_governed(message["method"]):
        return None
    # 4. id (a string, or an integer within +-2^53), params, params._meta.
    msg_id = message["id"]
    if not (isinstance(msg_id, str) or as_integer(msg_id) is not None):
        raise OpError("MCP_MALFORMED_REQUEST", "id is neither a string nor an integer")
    return params_meta(message)


# --- mcp.request.verify (mcp-binding.md §Verifying a request) -----------------------------


def verify_message(message, era: str, policy: str, trust: Trust, store: ReplayStore) -> dict:
    """Steps 2 to 8 for a parsed message."""
    stateless = is_stateless(era)
    meta = governed_request(message)
    if meta is None:
        return {"governed": False}
    # 5. Carrier members are strings.
    for name in CARRIERS:
        if name in meta and not isinstance(meta[name], str):
            raise OpError("MCP_CARRIER_INVALID", f"{name} is not a string")
    if stateless:
        # 6. The revision in _meta is the one the request is processed under.
        version = meta.get(PROTOCOL_VERSION)
        if not (isinstance(version, str) and version == era):
            raise OpError("MCP_PROTOCOL_VERSION_MISMATCH", f"{version!r} is not {era}")
        # 7. Attestation is declared in the client capabilities.
        if any(name in meta for name in CARRIERS):
            capabilities = meta.get(CLIENT_CAPABILITIES)
            extensions = capabilities.get("extensions") if isinstance(capabilities, dict) else None
            if not (isinstance(extensions, dict) and isinstance(extensions.get(EXTENSION), dict)):
                raise OpError("MCP_EXTENSION_UNDECLARED")
    # 8. proof.md's request verification under the policy.
    return dict(verify_request(message, policy, trust, store), governed=True)


def op_mcp_request_verify(context: dict, inp: dict) -> dict:
    # The verifier's configuration is read first, so a bad one fails every message alike.
    trust, policy, store = Trust(context), request_policy(context), ReplayStore(context)
    era = field(inp, "era")
    if "data" in inp:
        # 1. The bytes received, through the strict parser; numbers keep their literals.
        message = parse_strict_json(from_hex(field(inp, "data"), "data"), keep_literals=True)
    else:
        message = field(inp, "request", kind=None)
    return verify_message(message, era, policy, trust, store)


# --- mcp.request.attach (mcp-binding.md §Two eras, proof.md §The proof) -------------------


def op_mcp_request_attach(context: dict, inp: dict) -> dict:
    message = copy.deepcopy(field(inp, "request", kind=None))
    era = field(inp, "era")
    stateless = is_stateless(era)
    token = field(inp, "token")
    operator = inp.get("operator_attestation")
    if operator is not None and not isinstance(operator, str):
        raise BadRequest("operator_attestation is not a string")
    alg = field(inp, "alg", kind=None)
    seed = from_hex(field(inp, "seed"), "seed")
    audience = field(inp, "audience")
    iat = field(inp, "iat", kind=int)
    jti = field(inp, "jti")
    check_signing_key(alg, seed)
    # MCP-006: token and proof go on governed requests; other messages pass unchanged.
    meta = governed_request(message)
    if meta is None:
        return {"request": message}
    params = message["params"]
    params["_meta"] = meta
    for name in CARRIERS:  # a request is attested afresh, never twice
        meta.pop(name, None)
    if stateless:
        # The revision the request is made under, as the verifier checks it (step 6).
        version = meta.setdefault(PROTOCOL_VERSION, era)
        if not (isinstance(version, str) and version == era):
            raise OpError("MCP_PROTOCOL_VERSION_MISMATCH", f"the request is for {version!r}, not {era}")
        # MCP-002: declared in every request, before the proof is made, so it is covered.
        capabilities = meta.get(CLIENT_CAPABILITIES)
        capabilities = dict(capabilities) if isinstance(capabilities, dict) else {}
        extensions = capabilities.get("extensions")
        extensions = dict(extensions) if isinstance(extensions, dict) else {}
        if not isinstance(extensions.get(EXTENSION), dict):
            extensions[EXTENSION] = {}
        capabilities["extensions"] = extensions
        meta[CLIENT_CAPABILITIES] = capabilities
    meta[CARRIER_TOKEN] = token
    if operator is not None:
        meta[CARRIER_OPERATOR] = operator
    # ph covers params as the verifier sees them once the carriers are removed: an
    # _meta made here only for the carriers is hashed as {} (proof.md, The proof).
    claims = {
        "mth": message["method"],
        "ph": params_hash(params),
        "aud": audience,
        "iat": iat,
        "jti": jti,
        "ath": token_hash(token),
    }
    meta[CARRIER_PROOF], _ = issue_jws(alg, seed, PROOF, claims)
    return {"request": message}


# --- mcp.error (mcp-binding.md §Rejections) ------------------------------------------------

_INVALID_ATTESTATION_PREFIXES = ("B64_", "SIG_", "KEY_", "ALG_", "JWK_", "JWKS_", "JWS_", "TOK_", "PRF_")
_CODE_RE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")


def http_answer(code: str) -> tuple[int, str | None]:
    """The HTTP status and WWW-Authenticate challenge of a rejection, by its code alone."""

    def challenge(error_class: str) -> str:
        return f'AgentAttestation error="{error_class}", code="{code}"'

    if code == "PRF_TOKEN_MISSING":
        return 401, challenge("attestation_required")
    if code in ("PRF_REPLAY_STORE_FULL", "PRF_REPLAY_STORE_UNAVAILABLE"):
        return 503, None
    if code.startswith(_INVALID_ATTESTATION_PREFIXES):
        return 401, challenge("invalid_attestation")
    if code.startswith("PTL_"):
        return 403, challenge("access_denied")
    if code.startswith(("MCP_", "JSON_")):
        return 400, None
    raise BadRequest(f"{code} is not a code a JSON-RPC rejection carries")


def op_mcp_error(context: dict, inp: dict) -> dict:
    code = field(inp, "code")
    if not _CODE_RE.fullmatch(code):
        raise BadRequest(f"{code!r} is not a registry code")
    msg_id = inp.get("id")  # MCP-020: null when the message's id cannot be read
    status, www_authenticate = http_answer(code)
    data = {"code": code, "extension": EXTENSION}
    response = {
        "jsonrpc": "2.0",
        "id": msg_id,
        "error": {"code": ERROR_CODE, "message": f"{code}: the request was rejected", "data": data},
    }
    return {
        "id": msg_id,
        "error_code": ERROR_CODE,
        "data": data,
        "http_status": status,
        "www_authenticate": www_authenticate,
        "response": response,
    }


OPS = {
    "mcp.request.attach": op_mcp_request_attach,
    "mcp.request.verify": op_mcp_request_verify,
    "mcp.error": op_mcp_error,
}

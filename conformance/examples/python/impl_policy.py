"""Sealed policy artifacts and sub-mandates (artifact.md, mandate.md): the ops
artifact.verify and artifact.evaluate, written from the text of those documents.

Besides the two ops, the module offers what a bundle verifier needs:

* parse_artifact(value) -> Artifact: the shape checks of artifact.md (ART_MALFORMED)
  and the artifact's digest;
* verify_chain(chain, authorities): a chain, root first, verified in the order of
  artifact.md and mandate.md (ART_*, MAN_*); returns the artifact in force;
* RateState: the allowed calls still inside each rate window, fed incrementally;
  evaluate(chain, tool, arguments, time, rates) -> None or the code of the first
  evaluation step that denies the call; rates.record(chain, tool, time) counts an
  allowed call against the artifact in force and every ancestor.

Every name (tools, arguments, origins, digests) is a Python str compared with ==, which
is code point by code point: no normalization anywhere.
"""

from __future__ import annotations

import collections
import hashlib

import rfc8785

import attest_core
from attest_core import (
    ED25519,
    MLDSA65,
    BadRequest,
    OpError,
    b64url_decode,
    b64url_encode,
    canonicalize_value,
    field,
    first_inexact_number,
    json_equal,
    parse_jwk,
)

ARTIFACT_TYPE = "mcp-attest/artifact/v1"
MANDATE_TYPE = "mcp-attest/mandate/v1"
MAX_CHAIN_DEPTH = 16  # mandate.md: deeper chains are refused (ART_MALFORMED)
MAX_ORIGINS = 64
MAX_SAFE_INTEGER = 2**53

_TOP_MEMBERS = {"type", "id", "issuer", "subject", "not_before", "not_after", "tools", "rate_limit",
                "upstream", "drift", "log", "sig"}
_REQUIRED_TOP = ("type", "id", "issuer", "subject", "not_before", "not_after", "tools", "log", "sig")
_TOOL_MEMBERS = {"arguments", "required", "additional_arguments", "rate_limit"}
_CONSTRAINT_TYPES = ("string", "integer", "number", "boolean", "array")
# Which constraint members apply to which types (artifact.md §Constraints).
_APPLIES = {
    "minimum": ("integer", "number"),
    "maximum": ("integer", "number"),
    "min_length": ("string",),
    "max_length": ("string",),
    "prefix": ("string",),
    "min_items": ("array",),
    "max_items": ("array",),
}
_HEX64 = set("0123456789abcdef")


def _malformed(why: str) -> OpError:
    return OpError("ART_MALFORMED", why)


# --- JSON value helpers ------------------------------------------------------------------


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_integer(v) -> bool:
    """An integer of this specification: a number with no fractional part within ±2^53,
    judged on the double the number reads as (json.md), as for every other number."""
    if not _is_number(v):
        return False
    try:
        d = float(v)
    except OverflowError:  # an int beyond every double
        return False
    return d == d and abs(d) <= MAX_SAFE_INTEGER and d == int(d)  # d == d: not NaN


def _as_double(v) -> float:
    """A number's value, as the double the strict parser reads it as."""
    try:
        return float(v)
    except OverflowError:  # an int beyond a double: the strict parser refuses it
        raise _malformed("a number beyond the range of a double")


def _object(v, what: str, members: set, required=()) -> dict:
    if not isinstance(v, dict):
        raise _malformed(f"{what} is not an object")
    for name in v:
        if name not in members:
            raise _malformed(f"{what} has member {name!r}, which is not allowed")
    for name in required:
        if name not in v:
            raise _malformed(f"{what} has no {name!r}")
    return v


def _nonempty_string(v, what: str) -> str:
    if not isinstance(v, str) or v == "":
        raise _malformed(f"{what} is not a non-empty string")
    return v


def _b64url_32(v, what: str) -> str:
    if not isinstance(v, str):
        raise _malformed(f"{what} is not a string")
    try:
        raw = b64url_decode(v)
    except OpError as e:
        raise _malformed(f"{what}: {e.code}")
    if len(raw) != 32:
        raise _malformed(f"{what} is not the base64url of 32 bytes")
    return v


def _integer(v, what: str, minimum=None) -> int:
    if not _is_integer(v):
        raise _malformed(f"{what} is not an integer")
    v = int(float(v))
    if minimum is not None and v < minimum:
        raise _malformed(f"{what} is below {minimum}")
    return v


# --- Shape (artifact.md §Fields, §Constraints) ---------------------------------------------


class RateLimit:
    __slots__ = ("max", "window")

    def __init__(self, value, what: str):
        _object(value, what, {"max", "window"}, ("max", "window"))
        self.max = _integer(value["max"], f"{what}.max", 0)
        self.window = _integer(value["window"], f"{what}.window", 1)


class Constraint:
    """One argument's constraint; `value` is the constraint object as given."""

    __slots__ = ("value", "type")

    def __init__(self, value, what: str):
        if not isinstance(value, dict):
            raise _malformed(f"{what} is not an object")
        if "type" not in value:
            raise _malformed(f"{what} has no type")
        kind = value["type"]
        if not isinstance(kind, str) or kind not in _CONSTRAINT_TYPES:
            raise _malformed(f"{what} has an unknown type")
        self.value, self.type = value, kind
        for name, member in value.items():
            if name == "type":
                continue
            if name == "const":
                if not self.of_type(member):
                    raise _malformed(f"{what}.const is not a {kind}")
            elif name == "enum":
                if not isinstance(member, list) or not member or not all(self.of_type(m) for m in member):
                    raise _malformed(f"{what}.enum is not a non-empty array of {kind} values")
            elif name in _APPLIES:
                if kind not in _APPLIES[name]:
                    raise _malformed(f"{what}.{name} does not apply to {kind}")
                if name in ("minimum", "maximum"):
                    if not _is_number(member):
                        raise _malformed(f"{what}.{name} is not a number")
                    _as_double(member)
                elif name == "prefix":
                    if not isinstance(member, str):
                        raise _malformed(f"{what}.prefix is not a string")
                else:
                    _integer(member, f"{what}.{name}", 0)
            else:
                raise _malformed(f"{what} has member {name!r}, which is not allowed")

    def of_type(self, v) -> bool:
        if self.type == "string":
            return isinstance(v, str)
        if self.type == "integer":
            return _is_integer(v)
        if self.type == "number":
            return _is_number(v)
        if self.type == "boolean":
            return isinstance(v, bool)
        return isinstance(v, list)

    def enumerates(self) -> bool:
        return "const" in self.value or "enum" in self.value

    def accepts(self, v) -> bool:
        """Whether the value satisfies the type and every member."""
        if not self.of_type(v):
            return False
        c = self.value
        if "const" in c and not json_equal(v, c["const"]):
            return False
        if "enum" in c and not any(json_equal(v, e) for e in c["enum"]):
            return False
        if "minimum" in c and float(v) < float(c["minimum"]):
            return False
        if "maximum" in c and float(v) > float(c["maximum"]):
            return False
        if "min_length" in c and len(v) < c["min_length"]:  # len(str): Unicode scalar values
            return False
        if "max_length" in c and len(v) > c["max_length"]:
            return False
        if "prefix" in c and not v.startswith(c["prefix"]):
            return False
        if "min_items" in c and len(v) < c["min_items"]:
            return False
        if "max_items" in c and len(v) > c["max_items"]:
            return False
        return True

    def is_narrower_than(self, parent: "Constraint") -> bool:
        """mandate.md §Narrowing: exact for enumerations, sound for bounds."""
        mine, theirs = self.value, parent.value
        if self.enumerates():
            candidates = [mine["const"]] if "const" in mine else mine["enum"]
            return all(parent.accepts(v) for v in candidates if self.accepts(v))
        if not (self.type == parent.type or (self.type == "integer" and parent.type == "number")):
            return False
        if parent.enumerates():
            return False
        for name in ("minimum", "min_length", "min_items"):
            if name in theirs and (name not in mine or float(mine[name]) < float(theirs[name])):
                return False
        for name in ("maximum", "max_length", "max_items"):
            if name in theirs and (name not in mine or float(mine[name]) > float(theirs[name])):
                return False
        if "prefix" in theirs and ("prefix" not in mine or not mine["prefix"].startswith(theirs["prefix"])):
            return False
        return True


class ToolPolicy:
    __slots__ = ("arguments", "required", "additional", "rate_limit")

    def __init__(self, value, what: str):
        _object(value, what, _TOOL_MEMBERS)
        arguments = value.get("arguments", {})
        if not isinstance(arguments, dict):
            raise _malformed(f"{what}.arguments is not an object")
        self.arguments = {name: Constraint(c, f"{what}.arguments.{name}") for name, c in arguments.items()}
        required = value.get("required", [])
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise _malformed(f"{what}.required is not an array of strings")
        if len(set(required)) != len(required):
            raise _malformed(f"{what}.required names an argument twice")
        for name in required:
            if name not in self.arguments:
                raise _malformed(f"{what}.required names {name!r}, which has no constraint")
        self.required = required
        additional = value.get("additional_arguments", False)
        if not isinstance(additional, bool):
            raise _malformed(f"{what}.additional_arguments is not a boolean")
        self.additional = additional
        self.rate_limit = RateLimit(value["rate_limit"], f"{what}.rate_limit") if "rate_limit" in value else None


def _upstream(value, what: str) -> dict:
    if not isinstance(value, dict) or "transport" not in value:
        raise _malformed(f"{what} is not an object with a transport")
    transport = value["transport"]
    if transport == "stdio":
        _object(value, what, {"transport", "executable_sha256", "files_sha256"}, ("executable_sha256",))
        digest = value["executable_sha256"]
        if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= _HEX64:
            raise _malformed(f"{what}.executable_sha256 is not 64 lowercase hex digits")
        if "files_sha256" in value:
            files = value["files_sha256"]
            if (not isinstance(files, list) or not 1 <= len(files) <= 16
                    or not all(isinstance(f, str) and len(f) == 64 and set(f) <= _HEX64 for f in files)):
                raise _malformed(f"{what}.files_sha256 is not an array of 1 to 16 digests in lowercase hex")
    elif transport == "http":
        _object(value, what, {"transport", "url", "spki_sha256"}, ("url", "spki_sha256"))
        _nonempty_string(value["url"], f"{what}.url")
        _b64url_32(value["spki_sha256"], f"{what}.spki_sha256")
    else:
        raise _malformed(f"{what}.transport is neither stdio nor http")
    return value


MAX_SEQUENCES = 64
MAX_SEQUENCE_TOOLS = 16
MAX_BURST = 10000
DRIFT_CODES = ("PTL_BEHAVIOUR_DRIFT", "PTL_UPSTREAM_DRIFT")


class DriftRules:
    """An artifact's drift member: on_drift, tools_sha256, sequences [(tools, window)], burst (max, window)."""
    __slots__ = ("on_drift", "tools_sha256", "sequences", "burst")

    def __init__(self, value, what: str):
        _object(value, what, {"on_drift", "tools_sha256", "sequences", "burst"}, ("on_drift",))
        if not isinstance(value["on_drift"], str) or value["on_drift"] not in ("deny", "phantom"):
            raise _malformed(f"{what}.on_drift is neither deny nor phantom")
        self.on_drift = value["on_drift"]
        self.tools_sha256 = _b64url_32(value["tools_sha256"], f"{what}.tools_sha256") if "tools_sha256" in value else None
        self.sequences = []
        if "sequences" in value:
            rules = value["sequences"]
            if not isinstance(rules, list) or not 1 <= len(rules) <= MAX_SEQUENCES:
                raise _malformed(f"{what}.sequences is not an array of 1 to {MAX_SEQUENCES} rules")
            for i, rule in enumerate(rules):
                _object(rule, f"{what}.sequences[{i}]", {"tools", "window"}, ("tools", "window"))
                tools = rule["tools"]
                if not isinstance(tools, list) or not 2 <= len(tools) <= MAX_SEQUENCE_TOOLS:
                    raise _malformed(f"{what}.sequences[{i}].tools is not an array of 2 to {MAX_SEQUENCE_TOOLS} names")
                names = [_nonempty_string(t, f"{what}.sequences[{i}].tools item") for t in tools]
                self.sequences.append((names, _integer(rule["window"], f"{what}.sequences[{i}].window", 1)))
        self.burst = None
        if "burst" in value:
            _object(value["burst"], f"{what}.burst", {"max", "window"}, ("max", "window"))
            most = _integer(value["burst"]["max"], f"{what}.burst.max", 1)
            if most > MAX_BURST:
                raise _malformed(f"{what}.burst.max is above {MAX_BURST}")
            self.burst = (most, _integer(value["burst"]["window"], f"{what}.burst.window", 1))

    def has_rules(self) -> bool:
        return bool(self.sequences) or self.burst is not None


def _drift(value, what: str) -> DriftRules:
    return DriftRules(value, what)


class Artifact:
    """A sealed policy artifact or mandate whose shape has been checked.

    Attributes: value (the JSON object as given), kind ("artifact" or "mandate"), id,
    parent (digest or None), subject_jkt, not_before, not_after, tools (name ->
    ToolPolicy), rate_limit (RateLimit or None), upstream, drift, origins (list),
    alg, public_key, signer (the signing key's thumbprint), signature (bytes), body
    (the object without sig), digest (artifact.md: base64url SHA-256 of the canonical
    form of {"body": body, "signer": signer}).
    """

    def __init__(self, value):
        if not isinstance(value, dict):
            raise _malformed("an artifact is a JSON object")
        kind = value.get("type")
        if kind == ARTIFACT_TYPE:
            self.kind = "artifact"
            members = _TOP_MEMBERS
        elif kind == MANDATE_TYPE:
            self.kind = "mandate"
            members = _TOP_MEMBERS | {"parent"}
        else:
            raise _malformed("type is neither an artifact's nor a mandate's")
        _object(value, "the artifact", members, _REQUIRED_TOP + (("parent",) if self.kind == "mandate" else ()))
        self.value = value
        self.parent = _b64url_32(value["parent"], "parent") if self.kind == "mandate" else None
        self.id = _nonempty_string(value["id"], "id")
        _nonempty_string(value["issuer"], "issuer")
        subject = _object(value["subject"], "subject", {"sub", "jkt"}, ("sub", "jkt"))
        _nonempty_string(subject["sub"], "subject.sub")
        self.subject_sub = subject["sub"]
        self.subject_jkt = _b64url_32(subject["jkt"], "subject.jkt")
        self.not_before = _integer(value["not_before"], "not_before", 0)
        self.not_after = _integer(value["not_after"], "not_after", 0)
        if self.not_before >= self.not_after:
            raise _malformed("not_before is not before not_after")
        tools = value["tools"]
        if not isinstance(tools, dict):
            raise _malformed("tools is not an object")
        self.tools = {name: ToolPolicy(policy, f"tools.{name}") for name, policy in tools.items()}
        self.rate_limit = RateLimit(value["rate_limit"], "rate_limit") if "rate_limit" in value else None
        self.upstream = _upstream(value["upstream"], "upstream") if "upstream" in value else None
        self.drift = _drift(value["drift"], "drift") if "drift" in value else None
        log = _object(value["log"], "log", {"origins"}, ("origins",))
        origins = log["origins"]
        if not isinstance(origins, list) or not 1 <= len(origins) <= MAX_ORIGINS:
            raise _malformed(f"log.origins is not an array of 1 to {MAX_ORIGINS} origins")
        for origin in origins:
            _nonempty_string(origin, "an origin")
        if len(set(origins)) != len(origins):
            raise _malformed("log.origins lists an origin twice")
        self.origins = origins
        sig = _object(value["sig"], "sig", {"alg", "jwk", "value"}, ("alg", "jwk", "value"))
        try:
            self.signer, _ = parse_jwk(sig["jwk"])
        except OpError as e:
            raise _malformed(f"sig.jwk: {e.code}")
        suite = ED25519 if sig["jwk"].get("kty") == "OKP" else MLDSA65
        if not isinstance(sig["alg"], str) or sig["alg"] != suite:
            raise _malformed("sig.alg is not the suite of sig.jwk")
        self.alg = suite
        self.public_key = b64url_decode(sig["jwk"]["x" if suite == ED25519 else "pub"])
        if not isinstance(sig["value"], str) or sig["value"] == "":
            raise _malformed("sig.value is not a non-empty string")
        try:
            self.signature = b64url_decode(sig["value"])
        except OpError as e:
            raise _malformed(f"sig.value: {e.code}")
        self.body = {k: v for k, v in value.items() if k != "sig"}
        try:
            self.canonical_body = canonicalize_value(self.body)
        except (OverflowError, rfc8785.CanonicalizationError):
            raise _malformed("a number beyond the range of a double")
        envelope = canonicalize_value({"body": self.body, "signer": self.signer})
        self.digest = b64url_encode(hashlib.sha256(envelope).digest())

    def signature_verifies(self) -> bool:
        """The signature over the domain-separated canonical body (label artifact or mandate)."""
        try:
            attest_core.op_signature_verify({}, {
                "alg": self.alg,
                "public_key": self.public_key.hex(),
                "signature": self.signature.hex(),
                "message": self.canonical_body.hex(),
                "domain": self.kind,
            })
        except OpError:  # SIG_LENGTH, SIG_INVALID (the key was checked by parse_jwk)
            return False
        return True


def parse_artifact(value) -> Artifact:
    """The shape checks of artifact.md; ART_MALFORMED."""
    return Artifact(value)


# --- Chains (mandate.md) --------------------------------------------------------------------


def verify_root(root: Artifact, authorities) -> None:
    """A root artifact: its signature, then its signer among the trusted authorities."""
    if root.kind != "artifact":
        raise OpError("MAN_PARENT_MISSING", f"mandate {root.id} names a parent that is not held")
    if not root.signature_verifies():
        raise OpError("ART_SIGNATURE_INVALID", f"artifact {root.id}")
    if root.signer not in authorities:
        raise OpError("ART_SIGNER_UNTRUSTED", f"artifact {root.id} is signed by {root.signer}")


def _narrows_limit(mine, theirs) -> bool:
    if theirs is None:
        return True
    return mine is not None and mine.max <= theirs.max and mine.window >= theirs.window


def verify_derivation(child: Artifact, parent: Artifact) -> None:
    """One link of a chain: parent, signature, signer, then the narrowing steps in order."""
    if child.kind != "mandate" or child.parent != parent.digest:
        raise OpError("MAN_PARENT_MISSING", f"{child.id} does not name {parent.digest} as its parent")
    if not child.signature_verifies():
        raise OpError("MAN_SIGNATURE_INVALID", f"mandate {child.id}")
    if child.signer != parent.subject_jkt:
        raise OpError("MAN_SIGNER_NOT_SUBJECT", f"mandate {child.id} is signed by {child.signer}")
    # 1. validity
    if child.not_before < parent.not_before or child.not_after > parent.not_after:
        raise OpError("MAN_WIDENS_VALIDITY", f"mandate {child.id}")
    # 2. log
    for origin in child.origins:
        if origin not in parent.origins:
            raise OpError("MAN_LOG_MISMATCH", f"mandate {child.id} names log {origin!r}")
    # 3. tools
    for name in child.tools:
        if name not in parent.tools:
            raise OpError("MAN_WIDENS_TOOLS", f"mandate {child.id} adds tool {name!r}")
    # 4. constraints, per tool
    for name, mine in child.tools.items():
        theirs = parent.tools[name]
        for arg, constraint in theirs.arguments.items():
            if arg not in mine.arguments or not mine.arguments[arg].is_narrower_than(constraint):
                raise OpError("MAN_WIDENS_CONSTRAINT", f"tool {name!r}: argument {arg!r}")
        for arg in theirs.required:
            if arg not in mine.required:
                raise OpError("MAN_WIDENS_CONSTRAINT", f"tool {name!r}: {arg!r} no longer required")
        if not theirs.additional:
            for arg in mine.arguments:
                if arg not in theirs.arguments:
                    raise OpError("MAN_WIDENS_CONSTRAINT", f"tool {name!r}: argument {arg!r} added")
        if mine.additional and not theirs.additional:
            raise OpError("MAN_WIDENS_CONSTRAINT", f"tool {name!r}: additional arguments allowed")
    # 5. rate limits, per tool and overall
    for name, mine in child.tools.items():
        if not _narrows_limit(mine.rate_limit, parent.tools[name].rate_limit):
            raise OpError("MAN_WIDENS_RATE_LIMIT", f"mandate {child.id}: tool {name!r}")
    if not _narrows_limit(child.rate_limit, parent.rate_limit):
        raise OpError("MAN_WIDENS_RATE_LIMIT", f"mandate {child.id}: overall limit")
    # 6. upstream kept as it is where the parent has one; drift keeps the parent's on_drift
    # and tools_sha256, and may add sequences and a burst (the parent's stay in force)
    if parent.upstream is not None and (child.upstream is None or canonicalize_value(child.upstream) != canonicalize_value(parent.upstream)):
        raise OpError("MAN_WIDENS_CONSTRAINT", f"mandate {child.id} drops or changes its parent's upstream")
    if parent.drift is not None and (child.drift is None or child.drift.on_drift != parent.drift.on_drift
                                     or child.drift.tools_sha256 != parent.drift.tools_sha256):
        raise OpError("MAN_WIDENS_CONSTRAINT", f"mandate {child.id} drops or changes its parent's on_drift or tools_sha256")


def verify_chain(chain: list, authorities) -> Artifact:
    """Verify a chain of parsed artifacts, root first; return the artifact in force.

    Order: the depth; the root (a mandate there has no parent held: MAN_PARENT_MISSING),
    its signature, its signer; then each mandate after its parent as verify_derivation
    says. `authorities` is a collection of trusted thumbprints (str)."""
    if not chain:
        raise OpError("MAN_PARENT_MISSING", "an empty chain")
    if len(chain) > MAX_CHAIN_DEPTH:
        raise _malformed(f"a chain deeper than {MAX_CHAIN_DEPTH}")
    verify_root(chain[0], authorities)
    for parent, child in zip(chain, chain[1:]):
        verify_derivation(child, parent)
    return chain[-1]


def resolve_chain(digest: str, by_digest: dict) -> list:
    """The chain ending at `digest`, root first, following `parent` through by_digest
    (digest -> Artifact). MAN_PARENT_MISSING for a digest not held; ART_MALFORMED
    beyond MAX_CHAIN_DEPTH (so a cycle of digests ends too)."""
    chain = []
    current = digest
    while current is not None:
        artifact = by_digest.get(current)
        if artifact is None:
            raise OpError("MAN_PARENT_MISSING", f"artifact {current} is not held")
        chain.append(artifact)
        if len(chain) > MAX_CHAIN_DEPTH:
            raise _malformed(f"a chain deeper than {MAX_CHAIN_DEPTH}")
        current = artifact.parent
    chain.reverse()
    return chain


# --- Evaluation (artifact.md §Evaluation) ---------------------------------------------------


class RateState:
    """Allowed calls counted against rate limits, one sliding window per limit.

    A limit is identified by the digest of the artifact that sets it and the tool it
    applies to (None for the artifact-wide limit), so every encoding of one artifact
    shares one count. Each window keeps the times of the allowed calls that may still
    fall inside it; calls must be fed in non-decreasing time, so a time that leaves a
    window never comes back into it and each call is dropped at most once per limit:
    the cost is linear in the number of calls whatever the limits say.
    """

    def __init__(self):
        self._windows = {}  # (digest, tool or None) -> deque of times
        self.last_time = None

    def _window(self, digest: str, tool, limit: RateLimit, time: int):
        window = self._windows.get((digest, tool))
        if window is None:
            window = self._windows[(digest, tool)] = collections.deque()
        while window and window[0] <= time - limit.window:
            window.popleft()
        return window

    def _limits(self, chain: list, tool: str):
        """Step 5's limits (per tool), then step 6's (overall): in force, then ancestors."""
        for artifact in reversed(chain):
            policy = artifact.tools.get(tool)
            if policy is not None and policy.rate_limit is not None:
                yield artifact.digest, tool, policy.rate_limit
        for artifact in reversed(chain):
            if artifact.rate_limit is not None:
                yield artifact.digest, None, artifact.rate_limit

    def _check_order(self, time: int) -> None:
        if self.last_time is not None and time < self.last_time:
            raise ValueError("rate state fed out of time order")

    def allows(self, chain: list, tool: str, time: int) -> bool:
        """Steps 5 and 6: every limit holds fewer than max calls in (time - window, time]."""
        self._check_order(time)
        for digest, name, limit in self._limits(chain, tool):
            if len(self._window(digest, name, limit, time)) >= limit.max:
                return False
        return True

    def record(self, chain: list, tool: str, time: int) -> None:
        """Count an allowed call against the artifact in force and every ancestor."""
        self._check_order(time)
        self.last_time = time
        for digest, name, limit in self._limits(chain, tool):
            self._window(digest, name, limit, time).append(time)


class DriftState:
    """The drift of the sessions of one log (artifact.md §Evaluation steps 0 and 7).

    Per session: the code its drift began with, or per artifact digest with drift rules
    the state of those rules over the session's allowed tools/calls decided under that
    artifact or a mandate below it. A sequence of n tools keeps, for each prefix of 1 to
    n - 1 tools, the latest time at which a match of that prefix started; a burst keeps
    the times of the last max allowed calls. Calls come in non-decreasing time."""

    def __init__(self):
        self.began = {}  # session -> code
        self._rules = {}  # session -> digest -> {"starts": [[start or None] * (n - 1)], "recent": deque}

    def fires(self, chain: list, session: str, tool: str, time: int) -> bool:
        for artifact in chain:
            rules = artifact.drift
            if rules is None or not rules.has_rules():
                continue
            state = self._rules.get(session, {}).get(artifact.digest)
            if state is None:
                continue
            for (tools, window), starts in zip(rules.sequences, state["starts"]):
                if tools[-1] == tool and starts[-1] is not None and starts[-1] > time - window:
                    return True
            if rules.burst is not None:
                most, window = rules.burst
                recent = state["recent"]
                if len(recent) >= most and recent[-most] > time - window:
                    return True
        return False

    def record(self, chain: list, session: str, tool, time: int, code) -> None:
        """A decision of the session: code None for an allowed call (tool None for another
        method, which counts for nothing), else the code it was denied with."""
        if code is not None:
            if code in DRIFT_CODES:
                self.began.setdefault(session, code)
                self._rules.pop(session, None)
            return
        if tool is None or session in self.began:
            return
        for artifact in chain:
            rules = artifact.drift
            if rules is None or not rules.has_rules():
                continue
            state = self._rules.setdefault(session, {}).setdefault(artifact.digest, {
                "starts": [[None] * (len(tools) - 1) for tools, _ in rules.sequences],
                "recent": collections.deque(maxlen=rules.burst[0] if rules.burst else 1)})
            for (tools, _), starts in zip(rules.sequences, state["starts"]):
                for k in range(len(tools) - 2, 0, -1):
                    if tools[k] == tool and starts[k - 1] is not None:
                        starts[k] = starts[k - 1]
                if tools[0] == tool:
                    starts[0] = time
            if rules.burst is not None:
                state["recent"].append(time)


def evaluate_in_session(chain: list, session: str, tool: str, arguments, time: int, rates: RateState, drift: DriftState):
    """Evaluation steps 0 to 7 for a tools/call of a session; None when allowed."""
    if session in drift.began:
        # Under on_drift phantom, step 0 comes after step 6 (artifact.md §Evaluation).
        if chain[-1].drift is None or chain[-1].drift.on_drift != "phantom":
            return drift.began[session]
        return evaluate(chain, tool, arguments, time, rates) or drift.began[session]
    code = evaluate(chain, tool, arguments, time, rates)
    if code is not None:
        return code
    return "PTL_BEHAVIOUR_DRIFT" if drift.fires(chain, session, tool, time) else None


def check_arguments(policy: ToolPolicy, arguments) -> bool:
    """Step 4: the arguments object satisfies the tool policy."""
    if not isinstance(arguments, dict):
        return False
    for name in policy.required:
        if name not in arguments:
            return False
    for name, value in arguments.items():
        constraint = policy.arguments.get(name)
        if constraint is None:
            if not policy.additional:
                return False
        elif not constraint.accepts(value):
            return False
    return True


NO_ARGUMENTS = object()  # evaluate() without arguments: steps 3 and 4 are skipped


def evaluate(chain: list, tool: str, arguments, time: int, rates: RateState):
    """Decide a tools/call under `chain` (root first; the last is in force).

    Returns None when the call is allowed, else the code of the first step that fails.
    `arguments` is the call's arguments ({} for a request without them), or
    NO_ARGUMENTS when they are not known (a bundle without the payload). Nothing is
    recorded: call rates.record() for an allowed call."""
    in_force = chain[-1]
    if not in_force.not_before <= time < in_force.not_after:
        return "PTL_OUTSIDE_VALIDITY"
    policy = in_force.tools.get(tool)
    if policy is None:
        return "PTL_TOOL_NOT_ALLOWED"
    if arguments is not NO_ARGUMENTS:
        if first_inexact_number(arguments) is not None:
            return "JSON_NUMBER_INEXACT"
        if not check_arguments(policy, arguments):
            return "PTL_CONSTRAINT_VIOLATED"
    if not rates.allows(chain, tool, time):
        return "PTL_RATE_LIMITED"
    return None


# --- Ops ---------------------------------------------------------------------------------


def _time(value, what: str) -> int:
    if not _is_integer(value):
        raise BadRequest(f"{what} is not an integer")
    return int(float(value))


def op_artifact_verify(context: dict, inp: dict) -> dict:
    values = field(inp, "chain", kind=list)
    authorities = field(inp, "authorities", kind=list)
    chain = [parse_artifact(v) for v in values]
    in_force = verify_chain(chain, {a for a in authorities if isinstance(a, str)})
    return {"digest": in_force.digest, "id": in_force.id}


def _session(entry: dict) -> str:
    session = entry.get("session", "")
    if "session" in entry and (not isinstance(session, str) or session == ""):
        raise BadRequest("session is not a non-empty string")
    return session


def op_artifact_evaluate(context: dict, inp: dict) -> dict:
    chain = [parse_artifact(v) for v in field(inp, "ancestors", kind=list)] if "ancestors" in inp else []
    chain.append(parse_artifact(field(inp, "artifact", kind=dict)))
    history = field(inp, "history", kind=list)
    call = field(inp, "call", kind=dict)
    tool = field(call, "tool")
    time = _time(field(call, "time", kind=None), "call.time")
    arguments = call.get("arguments", {})
    rates = RateState()
    drift = DriftState()
    # The earlier decisions in order of time, as a log holds them; a call after this
    # one's time cannot be in any of its windows. An entry with a code was denied.
    earlier = []
    for entry in history:
        code = entry.get("code")
        if code is not None and not isinstance(code, str):
            raise BadRequest("a history entry's code is not a string")
        earlier.append((_time(field(entry, "time", kind=None), "history time"), field(entry, "tool"), _session(entry), code))
    for entry_time, entry_tool, entry_session, entry_code in sorted(earlier, key=lambda e: e[0]):
        if entry_time <= time:
            if entry_code is None:
                rates.record(chain, entry_tool, entry_time)
            drift.record(chain, entry_session, entry_tool, entry_time, entry_code)
    code = evaluate_in_session(chain, _session(call), tool, arguments, time, rates, drift)
    if code is not None:
        raise OpError(code, f"the artifact denies the call of {tool!r}")
    return {"decision": "ALLOW"}


OPS = {
    "artifact.verify": op_artifact_verify,
    "artifact.evaluate": op_artifact_evaluate,
}

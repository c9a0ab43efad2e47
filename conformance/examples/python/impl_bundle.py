"""Evidence bundles (bundle.md): the op bundle.verify, written from the text of
bundle.md §Verification, with the receipt, checkpoint and Merkle functions of
impl_log.py and the artifact, chain and evaluation functions of impl_policy.py.

verify_bundle() runs the ten steps in order and raises BundleFailure (an OpError with
the log and seq where verification stopped) at the first that fails. It reads every
log as streams: the checkpoints, then the receipts and the payload lines together, one
receipt at a time, and keeps per log only the previous receipt's link, seq and time,
the open calls, the Merkle frontier (O(log n)), the rate windows and the next payload
line. Step 10 reads the receipts of the logs it needs a second time instead of keeping
their allowed calls. Time is linear in the receipts whatever the rate limits say
(impl_policy.RateState).
"""

from __future__ import annotations

import heapq
import json

from attest_core import BadRequest, NumberLiteral, OpError, field, first_inexact_number, from_hex, parse_strict_json
import attest_core
import impl_log
import impl_timestamp
import impl_policy
import trust_policy
from impl_log import _same, json_integer

MAX_LOGS = 1024
MAX_ARTIFACTS = 65_536
MAX_CONSISTENCY_HASHES = 64
MAX_OPEN_CALLS = 65_536


class BundleFailure(OpError):
    """A failed verification: the code, and the log and seq of the receipt it concerns."""

    def __init__(self, code: str, message: str = "", log: str | None = None, seq: int | None = None):
        where = (f"log {log!r}" if log is not None else "") + (f" seq {seq}" if seq is not None else "")
        super().__init__(code, f"{where}: {message}" if where else message)
        self.log = log
        self.seq = seq


class LogInput:
    """One log of a bundle, as the manifest lists it. `receipts`, `checkpoints` and
    `payloads` are callables returning a fresh iterator over the JSON values of the
    file's lines (file_lines; payloads None when the log has no payload file); receipts
    may be read twice (step 10)."""

    def __init__(self, origin: str, receipts, checkpoints, payloads=None):
        self.origin = origin
        self.receipts = receipts
        self.checkpoints = checkpoints
        self.payloads = payloads


class TrustInputs:
    """The optional trust inputs of bundle.md §Trust policy: a parsed policy, pinned notes
    by origin, a freshness bound."""

    def __init__(self, policy=None, pinned=None, fresh_after=None):
        self.policy = policy
        self.pinned = pinned or {}
        self.fresh_after = fresh_after
        self.tsa = []  # trusted timestamp authority certificates (bundle.md §Timestamp authorities)


class Report:
    def __init__(self):
        self.logs = []  # per log: {"origin", "witnesses", "end_proven"}
        self.receipts = 0
        self.open_calls = 0
        self.decisions_rechecked_with_payload = 0
        self.revocations = 0
        self.shadow_calls = 0


# --- Step 1 ------------------------------------------------------------------------------


def check_manifest(logs: list) -> None:
    """The manifest's shape as far as the op's input has one: 1 to 1024 logs,
    each with a non-empty string origin, each origin once (BND_MALFORMED)."""
    if not 1 <= len(logs) <= MAX_LOGS:
        raise BundleFailure("BND_MALFORMED", f"a manifest lists 1 to {MAX_LOGS} logs")
    seen = set()
    for log in logs:
        if not isinstance(log.origin, str) or log.origin == "":
            raise BundleFailure("BND_MALFORMED", "a log's origin is a non-empty string")
        if log.origin in seen:  # str equality: code points
            raise BundleFailure("BND_MALFORMED", f"log {log.origin!r} is listed twice")
        seen.add(log.origin)


def read_artifacts(values) -> dict:
    """Every artifact line is an artifact (ART_MALFORMED); returns digest -> Artifact.
    Of several lines with one digest (encodings of one signed body by one key), the
    first is kept."""
    by_digest = {}
    for value in values:
        artifact = impl_policy.parse_artifact(value)
        if artifact.digest not in by_digest:
            by_digest[artifact.digest] = artifact
            if len(by_digest) > MAX_ARTIFACTS:
                raise BundleFailure("BND_MALFORMED", f"more than {MAX_ARTIFACTS} artifacts")
    return by_digest


# --- Step 3 ------------------------------------------------------------------------------


MAX_TIMESTAMPS = 16


def _timestamps(value, origin):
    """The shape of a checkpoint line's timestamps (BND_MALFORMED): [(token, salt)]."""
    if not isinstance(value, list) or len(value) > MAX_TIMESTAMPS:
        raise BundleFailure("BND_MALFORMED", f"timestamps is an array of at most {MAX_TIMESTAMPS}", origin)
    stamps = []
    for item in value:
        try:
            if not isinstance(item, dict) or set(item) != {"token", "salt"}:
                raise ValueError("not {token, salt}")
            token, salt = attest_core.b64url_decode(item["token"]), attest_core.b64url_decode(item["salt"])
            if len(token) > impl_timestamp.MAX_BYTES:
                raise ValueError("token over 64 KiB")
        except (OpError, ValueError, TypeError) as e:
            raise BundleFailure("BND_MALFORMED", f"a timestamp is {{token, salt}}, each base64url: {e}", origin)
        stamps.append((token, salt))
    return stamps


def _verify_timestamps(stamps, note: str, tsa: list) -> list:
    """The genTimes of the timestamps under one of the trusted certificates; none without
    certificates. A timestamp verified by none fails with the code of a certificate that got
    past the signer check, else the first certificate's code."""
    if not tsa:
        return []
    times = []
    for token, salt in stamps:
        failure, time = None, None
        for cert in tsa:
            try:
                time = impl_timestamp.verify_timestamp(token, note.encode("utf-8"), salt, cert)
                break
            except OpError as e:
                if failure is None or failure.code == "TSA_SIGNER_UNTRUSTED":
                    failure = e
        if time is None:
            raise failure
        times.append(time)
    return times


def read_checkpoints(lines, key, origin: str, policy=None, now=None, tsa=()) -> list:
    """Line by line: the line's shape (BND_MALFORMED), the note with the log key for the
    log's origin (CKP_*), then consistency with the checkpoint before (CKP_*, MRK_*).
    Returns the checkpoints; BND_NO_CHECKPOINT when there is none."""
    checkpoints = []
    for line in lines:
        if not isinstance(line, dict) or "note" not in line or not set(line) <= {"note", "consistency", "timestamps"}:
            raise BundleFailure("BND_MALFORMED", "a checkpoint line is {note, consistency?, timestamps?}", origin)
        if not isinstance(line["note"], str):
            raise BundleFailure("BND_MALFORMED", "a checkpoint's note is a string", origin)
        proof = []
        if "consistency" in line:
            hashes = line["consistency"]
            if not isinstance(hashes, list) or len(hashes) > MAX_CONSISTENCY_HASHES:
                raise BundleFailure("BND_MALFORMED", f"consistency is at most {MAX_CONSISTENCY_HASHES} hashes", origin)
            for h in hashes:
                raw = impl_log._b64url32(h)
                if raw is None:
                    raise BundleFailure("BND_MALFORMED", "a consistency hash is the base64url of 32 bytes", origin)
                proof.append(raw)
        stamps = _timestamps(line["timestamps"], origin) if "timestamps" in line else []
        if policy is None:
            checkpoint = impl_log.verify_checkpoint(line["note"], [key], origin)
        else:
            # bundle.md §Verification with a trust policy, step 3: the witnesses' cosignatures too.
            checkpoint = impl_log.verify_checkpoint(line["note"], [key], origin, list(policy.witnesses.values()))
            # A cosignature dated after the verification time is not counted.
            checkpoint.counted = [(n, t) for n, t in policy.counted(checkpoint) if now is None or t <= now]
        # bundle.md §Timestamp authorities: each timestamp verifies under a trusted authority.
        checkpoint.stamped = _verify_timestamps(stamps, line["note"], list(tsa))
        if checkpoints:
            impl_log.check_successor(checkpoints[-1], checkpoint, proof)
        checkpoints.append(checkpoint)
    if not checkpoints:
        raise BundleFailure("BND_NO_CHECKPOINT", "the log has no checkpoint", origin)
    return checkpoints


# --- Step 5 ------------------------------------------------------------------------------


class PayloadReader:
    """Payload lines read in step with the receipts (step 5)."""

    def __init__(self, lines):
        self._lines = iter(lines) if lines is not None else iter(())
        self._kept = None  # a line read ahead, for a later receipt: (seq, line)
        self._last_seq = None

    def _read(self):
        """The next line as (seq, line), or None at the end; BND_MALFORMED for a line
        that is not an object with a seq, or whose seq is not above the line before."""
        line = next(self._lines, None)
        if line is None:
            return None
        # A seq is an integer by value (json.md §Integers): 3, 3.0 and 3e0 are one seq.
        seq = json_integer(line.get("seq")) if isinstance(line, dict) else None
        if seq is None or seq < 0:
            raise OpError("BND_MALFORMED", "a payload line is an object with a seq")
        if self._last_seq is not None and seq <= self._last_seq:
            raise OpError("BND_MALFORMED", f"payload line for seq {seq} after the one for seq {self._last_seq}")
        self._last_seq = seq
        return seq, line

    def disclosure_for(self, seq: int):
        """Read lines until one with a seq above `seq` (kept) or the end; returns the
        disclosure of the line with this seq (without its "seq"), or None."""
        found = None
        while True:
            entry = self._kept if self._kept is not None else self._read()
            self._kept = None
            if entry is None:
                return found
            line_seq, line = entry
            if line_seq > seq:
                self._kept = entry
                return found
            if line_seq != seq:  # below: lines are ascending, so only if receipts were not
                raise OpError("BND_MALFORMED", f"payload line for seq {line_seq} is read at receipt {seq}")
            found = {k: v for k, v in line.items() if k != "seq"}

    def left_over(self) -> bool:
        """Whether a line remains after the last receipt (step 9)."""
        if self._kept is not None:
            return True
        return next(self._lines, None) is not None


# --- Steps 2 to 9, per log ---------------------------------------------------------------


class ChainCache:
    """Verified chains by the digest of the artifact in force, failures too."""

    def __init__(self, by_digest: dict, authorities):
        self.by_digest = by_digest
        self.authorities = authorities
        self._cache = {}

    def chain(self, digest: str) -> list:
        cached = self._cache.get(digest)
        if cached is None:
            try:
                chain = impl_policy.resolve_chain(digest, self.by_digest)
                impl_policy.verify_chain(chain, self.authorities)
                cached = (chain, None)
            except OpError as e:
                cached = (None, e)
            self._cache[digest] = cached
        if cached[1] is not None:
            raise OpError(cached[1].code, str(cached[1]))
        return cached[0]


def _call_identity(receipt) -> tuple:
    """What a RESULT repeats of its ALLOW: artifact, session, agent, method, tool."""
    agent = receipt.agent
    agent_key = (agent["sub"], agent["jkt"]) if agent is not None else None
    return (receipt.artifact, receipt.session, agent_key, receipt.method, receipt.tool)


def _same_identity(a: tuple, b: tuple) -> bool:
    def same(x, y):
        if x is None or y is None:
            return x is None and y is None
        if isinstance(x, tuple):
            return all(_same(p, q) for p, q in zip(x, y))
        return _same(x, y)

    return all(same(x, y) for x, y in zip(a, b))


def verify_log(log: LogInput, index: int, keys: list, chains: ChainCache, now: int, report: Report,
               roots_by_log: dict, trust: TrustInputs = TrustInputs()) -> None:
    origin = log.origin
    # Step 2: the log has a trusted key.
    key = next((k for k in keys if _same(k.name, origin)), None)
    if key is None:
        raise BundleFailure("BND_LOG_UNTRUSTED", "no key was given for the log", origin)
    # Step 3: checkpoints.
    try:
        checkpoints = read_checkpoints(log.checkpoints(), key, origin, trust.policy, now, trust.tsa)
        pinned = check_trust(checkpoints, key, origin, trust, report)
    except BundleFailure:
        raise
    except OpError as e:
        raise BundleFailure(e.code, str(e), origin)
    # Step 4's bound: per checkpoint, the earliest counted cosignature on it or a later one.
    bounds = []
    earliest = None
    for checkpoint in reversed(checkpoints):
        for _, t in getattr(checkpoint, "counted", ()):
            earliest = t if earliest is None else min(earliest, t)
        for t in getattr(checkpoint, "stamped", ()):
            t = max(t, 0)
            earliest = t if earliest is None else min(earliest, t)
        bounds.append((checkpoint.size, earliest))
    bounds.reverse()
    next_bound = 0

    tree = impl_log.MerkleTree()
    next_checkpoint = 0
    while next_checkpoint < len(checkpoints) and checkpoints[next_checkpoint].size == 0:
        next_checkpoint += 1  # the empty tree's: checked in step 9
    previous_link = bytes(32)
    previous_time = None
    expected_seq = 0
    open_calls = {}  # seq of an open ALLOW -> its call identity
    rates = impl_policy.RateState()
    drift = impl_policy.DriftState()
    payloads = PayloadReader(log.payloads() if log.payloads is not None else None)
    roots = set()
    revoked = set()  # the digests this log's REVOKE entries named so far

    # Steps 5 to 7 read what each receipt says; their first failure is raised only after
    # steps 4, 8 and 9 have authenticated the whole log (bundle.md §Verification), and
    # later receipts go through steps 4 and 8 only.
    content_failure = None
    for value in log.receipts():
        seq = expected_seq
        try:
            # Step 4: the receipt and its place in the log.
            receipt = impl_log.parse_bundle_receipt(value)
            seq = receipt.seq
            if not _same(receipt.log, origin):
                raise OpError("RCP_LOG_MISMATCH", f"the receipt names log {receipt.log!r}")
            if receipt.seq + 1 == expected_seq:
                raise OpError("RCP_SEQUENCE_DUPLICATE", f"seq {receipt.seq} again")
            if receipt.seq != expected_seq:
                raise OpError("RCP_SEQUENCE_GAP", f"seq {receipt.seq} where {expected_seq} was due")
            if receipt.prev != previous_link:
                raise OpError("RCP_CHAIN_BROKEN", "prev is not the previous receipt's link")
            if previous_time is not None and receipt.time < previous_time:
                raise OpError("RCP_TIME_REGRESSION", f"time {receipt.time} before {previous_time}")
            if receipt.time > now:
                raise OpError("BND_FUTURE_RECEIPT", f"time {receipt.time} after the verification time {now}")
            while next_bound < len(bounds) and bounds[next_bound][0] <= receipt.seq:
                next_bound += 1
            if next_bound < len(bounds) and bounds[next_bound][1] is not None and receipt.time > bounds[next_bound][1]:
                raise OpError("BND_RECEIPT_AFTER_COSIGNATURE",
                              f"time {receipt.time} after a witness cosigned a tree holding it at {bounds[next_bound][1]}")
            previous_link, previous_time = receipt.link, receipt.time
            expected_seq += 1
            if receipt.is_open:
                if len(open_calls) >= MAX_OPEN_CALLS:
                    raise OpError("BND_MALFORMED", f"more than {MAX_OPEN_CALLS} calls open at once")
                open_calls[receipt.seq] = _call_identity(receipt)
            elif receipt.decision == "RESULT":
                opened = open_calls.pop(receipt.call, None)
                if opened is None or not _same_identity(opened, _call_identity(receipt)):
                    raise OpError("RCP_RESULT_UNMATCHED", f"RESULT for seq {receipt.call}, no open call of its own")

            if content_failure is None:
                try:
                    check_content(receipt, origin, payloads, chains, rates, drift, report, revoked, roots)
                except BundleFailure:
                    raise
                except OpError as e:
                    content_failure = BundleFailure(e.code, str(e), origin, receipt.seq)

            # Step 8: the Merkle tree against every checkpoint of its size.
            tree.append_hash(receipt.leaf_hash)
            while next_checkpoint < len(checkpoints) and checkpoints[next_checkpoint].size == tree.size:
                if tree.root() != checkpoints[next_checkpoint].root:
                    raise OpError("BND_ROOT_MISMATCH", f"receipts 0..{tree.size - 1} do not hash to the checkpoint's root")
                next_checkpoint += 1
            if pinned is not None and pinned.size == tree.size and tree.root() != pinned.root:
                raise OpError("BND_PINNED_FORKED", f"the tree of size {tree.size} has another root than the pinned checkpoint")
        except BundleFailure:
            raise
        except OpError as e:
            raise BundleFailure(e.code, str(e), origin, seq)
        if content_failure is not None:
            continue
        report.receipts += 1
        if receipt.decision == "REVOKE":
            report.revocations += 1
        elif receipt.decision == "ALLOW" and receipt.shadow is not None:
            report.shadow_calls += 1

    # Step 9.
    if checkpoints[0].size == 0 and checkpoints[0].root != impl_log.EMPTY_ROOT:
        raise BundleFailure("BND_ROOT_MISMATCH", "a checkpoint of size 0 without the empty tree's root", origin)
    if tree.size != checkpoints[-1].size:
        raise BundleFailure("BND_SIZE_MISMATCH", f"{tree.size} receipts, the last checkpoint {checkpoints[-1].size}",
                            origin)
    if content_failure is not None:
        raise content_failure
    try:
        left = payloads.left_over()
    except OpError as e:
        raise BundleFailure(e.code, str(e), origin)
    if left:
        raise BundleFailure("BND_MALFORMED", "a payload line names no receipt of the log", origin)
    report.open_calls += len(open_calls)
    roots_by_log[index] = roots


def check_content(receipt, origin: str, payloads, chains, rates, drift, report: Report, revoked: set, roots: set) -> None:
    """Steps 5 to 7 for one receipt: its payload line, its artifact chain, its decision."""
    # Step 5: the payload line of this receipt, if any.
    disclosure = payloads.disclosure_for(receipt.seq)
    if disclosure is not None:
        impl_log.check_disclosure(receipt, disclosure)

    if receipt.decision == "REVOKE":
        # A REVOKE names a digest, not an artifact in force: no chain, no re-evaluation.
        revoked.add(receipt.artifact)
        return
    # Step 6: the artifact chain, and the log among the in-force artifact's.
    chain = chains.chain(receipt.artifact)
    in_force = chain[-1]
    if origin not in in_force.origins:
        raise OpError("RCP_LOG_NOT_IN_ARTIFACT", f"the artifact in force does not name log {origin!r}")

    # Step 7: an ALLOW re-evaluated.
    if receipt.decision == "ALLOW":
        check_allow(receipt, chain, disclosure, rates, drift, report, revoked)
        if receipt.tool is not None and receipt.shadow is None:
            roots.add(chain[0].digest)
    elif receipt.decision in ("DENY", "PHANTOM") and receipt.code in impl_policy.DRIFT_CODES:
        drift.record(chain, receipt.session, receipt.tool, receipt.time, receipt.code)


def check_trust(checkpoints: list, key, origin: str, trust: TrustInputs, report: Report):
    """bundle.md §Verification with a trust policy, step 3, for the newest checkpoint:
    the quorum (BND_QUORUM_NOT_MET), freshness (BND_NOT_FRESH), the pinned checkpoint
    (CKP_*, BND_PINNED_TRUNCATED, BND_PINNED_FORKED for size 0). Returns the pinned
    checkpoint, if any, for step 8."""
    newest = checkpoints[-1]
    policy = trust.policy
    witnesses = []
    if policy is not None:
        counted = newest.counted
        seen = {name for name, _ in counted}
        witnesses = [name for name in policy.witnesses if name in seen]  # in the policy's order
        if not policy.meets(seen):
            raise OpError("BND_QUORUM_NOT_MET", "the newest checkpoint's cosignatures do not meet the quorum")
        if trust.fresh_after is not None and not policy.meets({n for n, t in counted if t >= trust.fresh_after}):
            raise OpError("BND_NOT_FRESH", f"no quorum of cosignatures at or after {trust.fresh_after}")
    pinned = None
    note = next((n for o, n in trust.pinned.items() if _same(o, origin)), None)
    if note is not None:
        pinned = impl_log.verify_checkpoint(note, [key], origin)
        if pinned.size > newest.size:
            raise OpError("BND_PINNED_TRUNCATED", f"the log ends at {newest.size}, before the pinned size {pinned.size}")
        if pinned.size == 0 and pinned.root != impl_log.EMPTY_ROOT:
            raise OpError("BND_PINNED_FORKED", "a pinned checkpoint of size 0 without the empty tree's root")
    entry = {"origin": origin, "witnesses": [w.decode("utf-8") for w in witnesses],
             "end_proven": note is not None or trust.fresh_after is not None}
    if entry["end_proven"]:
        entry["end_bound"] = {}
        if pinned is not None:
            entry["end_bound"]["pinned_size"] = pinned.size
        if trust.fresh_after is not None:
            entry["end_bound"]["fresh_after"] = trust.fresh_after
    report.logs.append(entry)
    return pinned


def check_allow(receipt, chain: list, disclosure, rates, drift, report: Report, revoked=frozenset()) -> None:
    """Step 7 for an ALLOW: no artifact of the chain revoked earlier in the log, the
    subject; then, unless the ALLOW was forwarded in shadow mode (not an enforced
    decision: not re-evaluated, counted neither in `rates` nor in `drift`), the upstream
    and tool-list pins, then for a tools/call the exact numbers of the disclosed request
    and the evaluation steps 0 to 7 (the argument steps only with a disclosed request);
    for another method the session not in drift and the validity window. An allowed
    tools/call is counted in `rates` and `drift`."""
    in_force = chain[-1]
    for artifact in chain:
        if artifact.digest in revoked:
            raise OpError("PTL_ARTIFACT_REVOKED", f"an earlier REVOKE of this log revoked {artifact.digest}")
    agent = receipt.agent
    if agent is None or not (_same(agent["sub"], in_force.subject_sub) and _same(agent["jkt"], in_force.subject_jkt)):
        raise OpError("PTL_SUBJECT_MISMATCH", "the ALLOW's agent is not the subject of the artifact in force")
    if receipt.shadow is not None:
        return
    if in_force.upstream is not None:
        if receipt.upstream is None or (impl_policy.canonicalize_value(receipt.upstream)
                                        != impl_policy.canonicalize_value(in_force.upstream)):
            raise OpError("PTL_UPSTREAM_DRIFT", "the ALLOW's upstream is not the one the artifact pins")
    pinned_tools = in_force.drift.tools_sha256 if in_force.drift is not None else None
    if pinned_tools is not None and not _same(receipt.tools_sha256, pinned_tools):
        raise OpError("PTL_UPSTREAM_DRIFT", "the ALLOW's tool list is not the one the artifact pins")
    if receipt.tool is None:
        if receipt.session in drift.began:
            raise OpError(drift.began[receipt.session], "an ALLOW in a session in drift")
        if not in_force.not_before <= receipt.time < in_force.not_after:
            raise OpError("PTL_OUTSIDE_VALIDITY", "the ALLOW is outside the artifact's validity window")
        return
    arguments = impl_policy.NO_ARGUMENTS
    if disclosure is not None and "request" in disclosure:
        request = disclosure["request"]
        if first_inexact_number(request) is not None:
            raise OpError("JSON_NUMBER_INEXACT", "the disclosed request holds a number that is not exact")
        arguments = request.get("arguments", {}) if isinstance(request, dict) else {}
        report.decisions_rechecked_with_payload += 1
    code = impl_policy.evaluate_in_session(chain, receipt.session, receipt.tool, arguments, receipt.time, rates, drift)
    if code is not None:
        raise OpError(code, "the artifact in force denies this ALLOW")
    rates.record(chain, receipt.tool, receipt.time)
    drift.record(chain, receipt.session, receipt.tool, receipt.time, None)


# --- Step 10 -----------------------------------------------------------------------------


def _allowed_calls(log: LogInput, index: int, roots: set, chains: ChainCache):
    """The allowed tools/calls of a verified log under the given roots, in log order,
    as (time, log index, seq, tool, chain). The receipts passed every check already, so
    their members are read as they are."""
    for value in log.receipts():
        if value.get("decision") != "ALLOW" or "tool" not in value or "shadow" in value:
            continue
        chain = chains.chain(value["artifact"])
        if chain[0].digest in roots:
            yield json_integer(value["time"]), index, json_integer(value["seq"]), value["tool"], chain


def recount_across_logs(logs: list, chains: ChainCache, roots_by_log: dict) -> None:
    """Step 10: for every root artifact with allowed tools/calls in more than one log,
    the rate steps over the calls of all those logs together, in order of time, then of
    the manifest's logs, then of seq; all such roots in one pass (their limits are
    apart), so the first call denied in that order fails."""
    logs_per_root = {}
    for index, roots in roots_by_log.items():
        for root in roots:
            logs_per_root[root] = logs_per_root.get(root, 0) + 1
    shared = {root for root, count in logs_per_root.items() if count > 1}
    if not shared:
        return
    streams = [_allowed_calls(logs[i], i, shared, chains) for i in sorted(roots_by_log) if roots_by_log[i] & shared]
    rates = impl_policy.RateState()
    for time, index, seq, tool, chain in heapq.merge(*streams, key=lambda call: call[:3]):
        if not rates.allows(chain, tool, time):
            raise BundleFailure("PTL_RATE_LIMITED", "beyond a rate limit counted over every log of the bundle",
                                logs[index].origin, seq)
        rates.record(chain, tool, time)


# --- The whole bundle --------------------------------------------------------------------


def verify_bundle(artifacts, logs: list, authorities, log_keys: list, now: int, trust: TrustInputs = TrustInputs()) -> Report:
    """bundle.md §Verification, steps 1 to 10 in order. `artifacts` iterates over the
    artifact lines' values; `logs` is a list of LogInput in manifest order;
    `authorities` the trusted thumbprints; `log_keys` impl_log.VerifierKey values; `now`
    the verification time. Returns the Report or raises BundleFailure."""
    report = Report()
    check_manifest(logs)
    for origin in trust.pinned:
        if not any(_same(origin, log.origin) for log in logs):
            raise BundleFailure("BND_PINNED_TRUNCATED", "the bundle holds no log of a pinned checkpoint's origin", origin)
    by_digest = read_artifacts(artifacts)
    chains = ChainCache(by_digest, authorities)
    roots_by_log = {}
    for index, log in enumerate(logs):
        verify_log(log, index, log_keys, chains, now, report, roots_by_log, trust)
    recount_across_logs(logs, chains, roots_by_log)
    return report


# The limit of a line of each file, the nesting its parse allows, and the code of a line
# that is longer or does not parse (bundle.md §Layout).
LINE_RULES = {
    "artifacts": (1 << 20, 32, "ART_MALFORMED"),
    "checkpoints": (1 << 16, 64, "BND_MALFORMED"),
    "receipts": (1 << 16, 16, "RCP_MALFORMED"),
    "payloads": (1 << 20, 64, "BND_MALFORMED"),
}


def file_lines(data: bytes, kind: str):
    """The values of the lines of a bundle file given as its exact bytes (bundle.md
    §Layout): lines end at a line feed, the last one possibly without it; empty lines of
    the artifact and checkpoint files are skipped; every other line is one JSON text of
    the strict parser, within the file's line limit, or the file's code is raised when the
    line is reached. Values are those the request harness makes (integers exact, other
    numbers NumberLiteral), so a line reads as the same value as before."""
    limit, depth, code = LINE_RULES[kind]
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the line feed that ends the last line
    for line in lines:
        if line == b"" and kind in ("artifacts", "checkpoints"):
            continue
        try:
            parse_strict_json(line, max_bytes=limit, max_depth=depth)
        except OpError as e:
            raise OpError(code, f"a line of the {kind} file does not parse ({e})")
        yield json.loads(line.decode("utf-8"), parse_float=NumberLiteral)


def _file(log, name: str, optional=False):
    """A log's file, given as the hex of its bytes: a callable returning a fresh iterator
    over its lines' values; None for an absent optional file."""
    if not isinstance(log, dict) or name not in log:
        if optional and isinstance(log, dict):
            return None
        raise BadRequest(f"logs[].{name} is missing")
    data = from_hex(log[name], name)
    return lambda: file_lines(data, name)


def op_bundle_verify(context: dict, inp: dict) -> dict:
    authorities = {a for a in field(context, "authorities", kind=list) if isinstance(a, str)}
    trust = TrustInputs()
    if "policy" in context:
        # bundle.md §Trust policy: the log keys are the policy's, read before the bundle.
        if "log_keys" in context:
            raise BadRequest("a policy and log_keys are not given together")
        trust.policy = trust_policy.parse_policy(field(context, "policy"))
        log_keys = trust.policy.logs
    else:
        log_keys = [impl_log.parse_verifier_key(k) for k in field(context, "log_keys", kind=list)]
    if "pinned" in context:
        pinned = field(context, "pinned", kind=dict)
        if not all(isinstance(v, str) for v in pinned.values()):
            raise BadRequest("pinned maps origins to notes")
        trust.pinned = pinned
    if "fresh_after" in context:
        trust.fresh_after = json_integer(field(context, "fresh_after", kind=None))
        if trust.fresh_after is None or trust.policy is None or trust.policy.quorum == trust_policy.NONE:
            raise BadRequest("fresh_after is an integer, given with a policy whose quorum is not none")
    if "tsa" in context:
        certs = field(context, "tsa", kind=list)
        trust.tsa = [impl_timestamp.read_certificate(from_hex(c, "tsa")) for c in certs]
    now = json_integer(field(context, "now", kind=None))
    if now is None:
        raise BadRequest("now is not an integer")
    if trust.fresh_after is not None and trust.fresh_after > now:
        raise BadRequest("fresh_after is after now")
    artifacts = file_lines(from_hex(field(inp, "artifacts"), "artifacts"), "artifacts")
    logs = []
    for log in field(inp, "logs", kind=list):
        origin = log.get("origin") if isinstance(log, dict) else None
        logs.append(LogInput(origin, _file(log, "receipts"), _file(log, "checkpoints"),
                             _file(log, "payloads", optional=True)))
    report = verify_bundle(artifacts, logs, authorities, log_keys, now, trust)
    output = {"receipts": report.receipts, "open_calls": report.open_calls, "revocations": report.revocations,
              "shadow_calls": report.shadow_calls}
    if trust.policy is not None or trust.pinned or trust.fresh_after is not None:
        output["logs"] = report.logs
    return output


OPS = {"bundle.verify": op_bundle_verify}

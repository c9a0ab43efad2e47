"""Trust policies for bundle verification (bundle.md §Trust policy): the C2SP
tlog-policy file, the quorum, freshness and pinned checkpoints, written from the text of
bundle.md.

    parse_policy(text) -> Policy          BND_POLICY_MALFORMED, KEY_INVALID
    Policy.logs: [VerifierKey]; .witnesses: {name bytes: VerifierKey} in file order;
    .groups: {name bytes: (k, [member names])}; .quorum: name bytes (b"none" for none)
    Policy.meets(names: set of witness names) -> bool
    Policy.counted(checkpoint) -> [(name bytes, time)]   valid cosignatures by policy
        witnesses (CKP_COSIGNATURE_INVALID for one that does not verify)
"""

from __future__ import annotations

import re

from attest_core import OpError
import impl_log

MAX_POLICY_BYTES = 1 << 20
MAX_LINES_OF_A_KIND = 1024
NONE = b"none"


def _malformed(line_number: int, why: str) -> OpError:
    return OpError("BND_POLICY_MALFORMED", f"policy line {line_number}: {why}")


class Policy:
    def __init__(self):
        self.logs: list = []
        self.witnesses: dict = {}
        self.groups: dict = {}
        self.quorum: bytes | None = None

    def counted(self, checkpoint) -> list:
        """The valid cosignatures on a verified checkpoint by the policy's witnesses, as
        (policy name, time) in line order."""
        keys = list(self.witnesses.values())
        by_key = {id(k): name for name, k in self.witnesses.items()}
        found = []
        for name, key_id, rest in checkpoint.signatures:
            witness = next((k for k in keys if impl_log._is_key(k, name, key_id)), None)
            if witness is None:
                continue
            (_, time), = impl_log.verify_cosignatures(_One(checkpoint, (name, key_id, rest)), [witness])
            found.append((by_key[id(witness)], time))
        return found

    def meets(self, witnessed: set) -> bool:
        met = set(w for w in self.witnesses if w in witnessed)
        for name, (k, members) in self.groups.items():  # in file order: members come first
            if sum(1 for m in members if m in met) >= k:
                met.add(name)
        return self.quorum == NONE or self.quorum in met


class _One:
    """A checkpoint seen through one of its signature lines."""

    def __init__(self, checkpoint, line):
        self.body = checkpoint.body
        self.signatures = [line]


def parse_policy(text) -> Policy:
    """bundle.md §The policy file, steps 1 to 7, line by line."""
    if not isinstance(text, str):
        raise OpError("BND_POLICY_MALFORMED", "the policy is text")
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise OpError("BND_POLICY_MALFORMED", "the policy is not UTF-8")
    if len(data) > MAX_POLICY_BYTES:
        raise OpError("BND_POLICY_MALFORMED", "the policy is over 1 MiB")
    if re.search(rb"[\x00-\x08\x0b-\x1f\x7f]", data):
        raise OpError("BND_POLICY_MALFORMED", "the policy holds a control character other than tab and line feed")
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    policy = Policy()
    names: set = set()
    log_keys: set = set()
    witness_keys: set = set()
    for number, line in enumerate(lines, 1):
        items = [i for i in re.split(rb"[ \t]+", line) if i]
        if not items or items[0].startswith(b"#"):
            continue
        kind, args = items[0], items[1:]
        if kind == b"log":
            if len(args) not in (1, 2):
                raise _malformed(number, "log <vkey> [<url>]")
            key = impl_log.parse_verifier_key(args[0].decode("utf-8"))
            if key.public_key in log_keys or len(policy.logs) >= MAX_LINES_OF_A_KIND:
                raise _malformed(number, "a log key twice, or too many logs")
            log_keys.add(key.public_key)
            policy.logs.append(key)
        elif kind == b"witness":
            if len(args) not in (2, 3):
                raise _malformed(number, "witness <name> <vkey> [<url>]")
            name = args[0]
            if name == NONE or name in names:
                raise _malformed(number, "a witness name defined before, or none")
            key = impl_log.parse_cosigner_key(args[1].decode("utf-8"))
            if key.public_key in witness_keys or len(policy.witnesses) >= MAX_LINES_OF_A_KIND:
                raise _malformed(number, "a witness key twice, or too many witnesses")
            witness_keys.add(key.public_key)
            names.add(name)
            policy.witnesses[name] = key
        elif kind == b"group":
            if len(args) < 3:
                raise _malformed(number, "group <name> <k> <member>...")
            name, threshold, members = args[0], args[1], args[2:]
            if name == NONE or name in names or len(policy.groups) >= MAX_LINES_OF_A_KIND:
                raise _malformed(number, "a group name defined before, or none, or too many groups")
            if len(set(members)) != len(members) or any(m == NONE or m not in names for m in members):
                raise _malformed(number, "a member undefined, named twice, or none")
            if threshold == b"all":
                k = len(members)
            elif threshold == b"any":
                k = 1
            elif re.fullmatch(rb"[1-9][0-9]{0,5}", threshold) and int(threshold) <= len(members):
                k = int(threshold)
            else:
                raise _malformed(number, "the threshold is all, any, or a count from 1 to the members")
            names.add(name)
            policy.groups[name] = (k, members)
        elif kind == b"quorum":
            if len(args) != 1 or policy.quorum is not None or (args[0] != NONE and args[0] not in names):
                raise _malformed(number, "one quorum line, naming none or an earlier witness or group")
            policy.quorum = args[0]
        else:
            raise _malformed(number, "not a log, witness, group or quorum line")
    if policy.quorum is None:
        raise OpError("BND_POLICY_MALFORMED", "the policy has no quorum line")
    return policy

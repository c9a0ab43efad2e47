#!/usr/bin/env python3
"""Receipt logs: Merkle trees, checkpoints and receipts (merkle.md, checkpoint.md,
receipt.md), written from the text of those documents.

Ops: merkle.root, merkle.inclusion, merkle.consistency, checkpoint.verify,
checkpoint.cosignatures, checkpoint.successor, receipt.verify, receipt.inclusion, receipt.disclosure,
receipt.audit, receipt.verify-proof.

Every check raises attest_core.OpError(code) and runs in the order its document fixes,
so that an input with several defects gets the code of the first check it fails. The
functions below are the building blocks of those ops and are meant to be reused (the
evidence bundle verifier runs them for every log). Byte strings are `bytes`; JSON
values are Python values as the strict parser (attest_core.parse_strict_json) or
`json.loads` produce them: numbers may be int or float.

Merkle trees (merkle.md, RFC 9162 §2.1 with SHA-256)
    leaf_hash(data) -> bytes, node_hash(left, right) -> bytes, EMPTY_ROOT
    merkle_root(leaves: list[bytes]) -> bytes          root of the tree of leaf data
    MerkleTree()                                         incremental tree: .append(data)
        (or .append_hash(leaf hash)), .size, .root() -- O(log n) per append
    verify_inclusion(index, tree_size, leaf_hash, proof, root)        MRK_*
    verify_consistency(size1, size2, root1, root2, proof)             MRK_*

Checkpoints (checkpoint.md, C2SP tlog-checkpoint in a C2SP signed note)
    parse_verifier_key(text) -> VerifierKey(name, key_id, public_key, thumbprint)
        a note verifier key `name+hex(key ID)+base64(0x01 || key)`; KEY_INVALID when it
        is not of that form, its key ID is not its own or its key does not decode
    parse_verifier_keys(list) -> list[VerifierKey]   (checkpoint ops parse all first)
    verify_checkpoint(note, trusted: list[VerifierKey], origin=None) -> Checkpoint
        the six ordered checks of checkpoint.md: size and NUL, body (CKP_MALFORMED),
        origin when given (CKP_ORIGIN_MISMATCH), the signature block's final line feed
        (CKP_MALFORMED), each signature line in turn (CKP_MALFORMED, then for a trusted
        key CKP_SIGNATURE_INVALID), at least one trusted line (CKP_NO_TRUSTED_SIGNATURE).
        Checkpoint has .origin (str), .size (int), .root (32 bytes), .body (the signed
        bytes) and .signatures [(key name, key ID, signature)]
    parse_note(note) -> Checkpoint        a complete parse, no origin or signature checked
    parse_cosigner_key(text) -> VerifierKey   a witness key `name+hex(key ID)+base64(0x04 ||
        key)` (C2SP tlog-cosignature); KEY_INVALID for any other text or signature type
    verify_cosignatures(checkpoint, witnesses) -> [(name, time)]   step 8 of checkpoint.md
        on a verified checkpoint: each line by a trusted witness key holds a timestamp of at
        most 2^63 - 1 and a signature of the cosigned message (CKP_COSIGNATURE_INVALID);
        other lines are ignored. verify_checkpoint(..., cosigners=witnesses) never counts
        such a line as the log's signature
    check_successor(earlier: Checkpoint, later: Checkpoint, proof: list[bytes])
        two verified checkpoints of one log: CKP_ROLLBACK, CKP_EQUIVOCATION, then for
        a larger size the consistency proof (MRK_*); equal sizes and roots read no proof

Receipts (receipt.md)
    parse_receipt(value) -> Receipt                                  RCP_MALFORMED
        the strict shape of §Fields; Receipt keeps the JSON object (.value) and has
        .seq, .time, .decision, .method, .tool, .code, .call, .log, .prev (32 bytes),
        .request / .response (32-byte commitments or None), .canonical (JCS bytes of
        the receipt without sig), .link (SHA-256 of canonical), .leaf_hash (Merkle leaf
        hash of the link), .is_open (an ALLOW without response)
    check_receipt_signature(receipt, log_key: VerifierKey)   RCP_KEY_UNTRUSTED, then
        RCP_SIGNATURE_INVALID (separate from parse_receipt, so that bundle.md step 4 can
        check the log and the seq in between)
    verify_receipt(value, log_key) -> Receipt     parse_receipt, the log key (a
        VerifierKey, or its text: KEY_INVALID), then check_receipt_signature
    check_disclosure(receipt, disclosure: dict)   the four ordered checks of
        §Payload commitments and disclosure: RCP_DISCLOSURE_MALFORMED,
        RCP_COMMITMENT_MISMATCH, RCP_EFFECT_MISMATCH; `disclosure` holds only the
        members "request", "request_salt", "response", "response_salt" (a bundle's
        payload line without its "seq")
    commitment(salt, payload) -> bytes           SHA-256("MCP-ATTEST-v1:commitment" 0x00 ..)
    verify_receipt_inclusion(value, note, proof, log_key) -> (Receipt, Checkpoint)
    audit_held_receipts(values, note, log_key, proof_of) -> (count, Checkpoint)
        receipt.md §Auditing held receipts: RCP_*, KEY_INVALID, CKP_*, then per held
        receipt RCP_LOG_MISMATCH, RCP_NOT_COVERED, RCP_OMITTED
    disclosure_members(receipt), is_denial(response, code), upstream_is_well_formed(v)

JSON helpers
    to_model(value)      a json.loads value with every number a float, as the strict
                         parser gives it; canonicalize(to_model(v)) is its JCS form
    json_integer(value)  the integer a JSON number denotes (|n| <= 2^53), else None
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re

import attest_core
from attest_core import BadRequest, OpError, b64url_decode, canonicalize, field, from_hex

HASH_SIZE = 32

# --- Merkle trees (merkle.md) -----------------------------------------------------------

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: list[bytes]) -> bytes:
    """Root of the tree of the given leaf data (RFC 9162 §2.1.1)."""
    tree = MerkleTree()
    for data in leaves:
        tree.append(data)
    return tree.root()


class MerkleTree:
    """An append-only RFC 9162 tree that keeps the roots of its perfect subtrees.

    The tree of n leaves is the perfect subtrees of the binary digits of n, largest
    (leftmost) first; its root folds them from the right, which is the split at the
    largest power of two below n that merkle.md defines. Memory is O(log n).
    """

    def __init__(self) -> None:
        self.size = 0
        self._subtrees: list[tuple[int, bytes]] = []  # (height, hash), left to right

    def append(self, data: bytes) -> bytes:
        """Append the leaf with this data; returns its leaf hash."""
        h = leaf_hash(data)
        self.append_hash(h)
        return h

    def append_hash(self, h: bytes) -> None:
        height = 0
        while self._subtrees and self._subtrees[-1][0] == height:
            _, left = self._subtrees.pop()
            h = node_hash(left, h)
            height += 1
        self._subtrees.append((height, h))
        self.size += 1

    def root(self) -> bytes:
        if not self._subtrees:
            return EMPTY_ROOT
        h = self._subtrees[-1][1]
        for _, left in reversed(self._subtrees[:-1]):
            h = node_hash(left, h)
        return h


def _check_hash_lengths(*hashes: bytes) -> None:
    for h in hashes:
        if len(h) != HASH_SIZE:
            raise OpError("MRK_HASH_LENGTH", f"a tree hash is {HASH_SIZE} bytes, not {len(h)}")


def verify_inclusion(index: int, tree_size: int, leaf: bytes, proof: list[bytes], root: bytes) -> None:
    """merkle.md: the index is checked first (MRK-004, before anything is computed),
    then every hash's length (MRK-005), then RFC 9162 §2.1.3.2 (MRK-003)."""
    if not 0 <= index < tree_size:
        raise OpError("MRK_INDEX_OUT_OF_RANGE", f"leaf {index} of a tree of {tree_size}")
    _check_hash_lengths(leaf, root, *proof)
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            raise OpError("MRK_INCLUSION_INVALID", "the proof is longer than the path")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0 or r != root:
        raise OpError("MRK_INCLUSION_INVALID", "the proof does not lead to the root")


def inclusion_root(index: int, tree_size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2 without its final
    comparison): MRK_INDEX_OUT_OF_RANGE, MRK_HASH_LENGTH, MRK_INCLUSION_INVALID for a
    proof of the wrong length."""
    if not 0 <= index < tree_size:
        raise OpError("MRK_INDEX_OUT_OF_RANGE", f"leaf {index} of a tree of {tree_size}")
    _check_hash_lengths(leaf, *proof)
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            raise OpError("MRK_INCLUSION_INVALID", "the proof is longer than the path")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise OpError("MRK_INCLUSION_INVALID", "the proof is shorter than the path")
    return r


def verify_consistency(size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes]) -> None:
    """merkle.md: sizes (MRK-007); at equal sizes only MRK-008 (an empty proof and
    byte-equal roots, whatever their length, as the transparency-dev probes require);
    otherwise hash lengths (MRK-005), then RFC 9162 §2.1.4.2 (MRK-006)."""
    if size1 <= 0 or size1 > size2:
        raise OpError("MRK_SIZE_ORDER", f"from size {size1} to size {size2}")
    if size1 == size2:
        if proof or root1 != root2:
            raise OpError("MRK_CONSISTENCY_INVALID", "equal sizes need an empty proof and equal roots")
        return
    _check_hash_lengths(root1, root2, *proof)
    if not proof:
        raise OpError("MRK_CONSISTENCY_INVALID", "empty proof")
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # a power of two: the first tree is a subtree
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise OpError("MRK_CONSISTENCY_INVALID", "the proof is longer than the path")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0 or fr != root1 or sr != root2:
        raise OpError("MRK_CONSISTENCY_INVALID", "the proof does not lead to both roots")


# --- Checkpoints (checkpoint.md) ---------------------------------------------------------

EM_DASH = "\u2014"
ED25519_NOTE_TYPE = b"\x01"  # the signed-note signature type of Ed25519
MAX_NOTE_BYTES = 65536


def note_key_id(name: str, public_key: bytes, sig_type: bytes = ED25519_NOTE_TYPE) -> bytes:
    """The first four bytes of SHA-256(name || 0x0A || type || public key)."""
    return hashlib.sha256(name.encode("utf-8", "surrogatepass") + b"\n" + sig_type + public_key).digest()[:4]


def _std_b64decode(text: str) -> bytes | None:
    """Standard base64 with padding, one spelling per byte string; None if it is not."""
    if not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", text) or len(text) % 4:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == text else None


class VerifierKey:
    """A note verifier key: Ed25519, named; `thumbprint` is its RFC 7638 JWK thumbprint
    (the `kid` of the receipts the same key signs)."""

    def __init__(self, name: str, key_id: bytes, public_key: bytes):
        self.name = name
        self.key_id = key_id
        self.public_key = public_key
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": attest_core.b64url_encode(public_key)}
        self.thumbprint = attest_core.b64url_encode(hashlib.sha256(canonicalize(jwk)).digest())


def parse_verifier_key(text, sig_type: bytes = ED25519_NOTE_TYPE) -> VerifierKey:
    """`name+hex(key ID)+base64(0x01 || public key)` (checkpoint.md). A key that is not of
    this form, whose key ID is not computed from its name and key, or whose key does not
    decode (signatures.md) is refused with KEY_INVALID. With sig_type 0x04, a cosigner
    key (checkpoint.md §Cosignatures)."""
    if not isinstance(text, str):
        raise OpError("KEY_INVALID", "a note verifier key is a string")
    parts = text.split("+")
    # The base64 may itself hold '+': the name and key ID are the first two parts.
    if len(parts) < 3:
        raise OpError("KEY_INVALID", "a note verifier key is name+keyid+key")
    name, hex_id, b64 = parts[0], parts[1], "+".join(parts[2:])
    raw = _std_b64decode(b64)
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id) or raw is None or len(raw) != 33 or raw[:1] != sig_type:
        raise OpError("KEY_INVALID", "a note verifier key is name+keyid+base64(0x01 || Ed25519 key)")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise OpError("KEY_INVALID", "the key name is not UTF-8 text")
    key = VerifierKey(name, bytes.fromhex(hex_id), raw[1:])
    if note_key_id(name, key.public_key, sig_type) != key.key_id:
        raise OpError("KEY_INVALID", "the key ID is not computed from the name and key")
    if not attest_core.ed25519_key_decodes(key.public_key):
        raise OpError("KEY_INVALID", "the Ed25519 key is the encoding of no curve point")
    return key


def parse_verifier_keys(values) -> list[VerifierKey]:
    """Every trusted key, in order, before any note is read."""
    if not isinstance(values, list):
        raise BadRequest("trusted keys are a list")
    return [parse_verifier_key(v) for v in values]


class Checkpoint:
    def __init__(self, origin: str, size: int, root: bytes, body: bytes, signature_block: str):
        self.origin = origin
        self.size = size
        self.root = root
        self.body = body  # the signed bytes: every body line with its line feed
        self.signature_block = signature_block  # the text after the blank line
        self.signatures: list[tuple[str, bytes, bytes]] = []  # (key name, key ID, signature), once parsed


def _malformed(why: str) -> OpError:
    return OpError("CKP_MALFORMED", why)


def parse_body(note) -> Checkpoint:
    """checkpoint.md §Verifying a checkpoint, steps 1 and 2: the note's size and bytes,
    then its body: the lines before the first blank line, which are the origin, the
    size and the root, and any extension lines (signed, otherwise ignored)."""
    if not isinstance(note, str):
        raise BadRequest("a note is a string")
    try:
        data = note.encode("utf-8")
    except UnicodeEncodeError:
        raise _malformed("the note is not UTF-8 text")
    if len(data) > MAX_NOTE_BYTES or b"\x00" in data:
        raise _malformed(f"the note is over {MAX_NOTE_BYTES} bytes or holds a NUL byte")
    end = note.find("\n\n")
    if end < 0:
        raise _malformed("no blank line after the body")
    body_text, signature_block = note[:end + 1], note[end + 2:]
    lines = body_text[:-1].split("\n")
    if len(lines) < 3:
        raise _malformed("the body is not an origin, a size and a root")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if origin == "":
        raise _malformed("empty origin")
    if not re.fullmatch(r"0|[1-9][0-9]{0,19}", size_text) or int(size_text) >= 1 << 64:
        raise _malformed("the size is not a decimal integer below 2^64 without leading zeros")
    root = _std_b64decode(root_text)
    if root is None or len(root) != HASH_SIZE:
        raise _malformed("the root is not the padded base64 of 32 bytes")
    return Checkpoint(origin, int(size_text), root, body_text.encode("utf-8"), signature_block)


def _signature_block_lines(checkpoint: Checkpoint) -> list[str]:
    """Step 4: the text after the blank line is not empty and ends with a line feed."""
    block = checkpoint.signature_block
    if block == "" or not block.endswith("\n"):
        raise _malformed("the signature lines do not each end with a line feed")
    return block[:-1].split("\n")


def _signature_line(line: str) -> tuple[str, bytes, bytes]:
    """Step 6.1: an em dash, a space, a key name (not empty, no space), a space, and the
    padded standard base64 of a 4-byte key ID and a signature (at least one byte)."""
    if not line.startswith(EM_DASH + " "):
        raise _malformed("a signature line does not start with an em dash and a space")
    name, sep, b64 = line[2:].partition(" ")
    raw = _std_b64decode(b64) if sep and name else None
    if raw is None or len(raw) < 5:
        raise _malformed("a signature line is not a key name and the base64 of a key ID and a signature")
    return name, raw[:4], raw[4:]


def parse_note(note) -> Checkpoint:
    """A note parsed completely (steps 1, 2, 4 and the shape of every signature line),
    without an origin or a signature checked."""
    checkpoint = parse_body(note)
    checkpoint.signatures = [_signature_line(line) for line in _signature_block_lines(checkpoint)]
    return checkpoint


def verify_checkpoint(note, trusted: list[VerifierKey], origin: str | None = None,
                      cosigners: list[VerifierKey] = ()) -> Checkpoint:
    """checkpoint.md §Verifying a checkpoint, in order: the note's size and bytes and its
    body (CKP_MALFORMED); its origin is the expected one, when given, compared by bytes
    (CKP_ORIGIN_MISMATCH); the signature block ends with a line feed (CKP_MALFORMED);
    then each signature line in turn is well formed (CKP_MALFORMED) and, when its key
    name and key ID are those of a trusted key, verifies over the body
    (CKP_SIGNATURE_INVALID); at least one line is by a trusted key
    (CKP_NO_TRUSTED_SIGNATURE). Lines of other keys are otherwise ignored; a line whose
    key name and key ID are a cosigner's is a cosignature, never the log's signature."""
    checkpoint = parse_body(note)
    if origin is not None and checkpoint.origin.encode("utf-8") != origin.encode("utf-8", "surrogatepass"):
        raise OpError("CKP_ORIGIN_MISMATCH", f"{checkpoint.origin!r} is not {origin!r}")
    verified = 0
    for line in _signature_block_lines(checkpoint):
        name, key_id, signature = _signature_line(line)
        checkpoint.signatures.append((name, key_id, signature))
        if any(_is_key(key, name, key_id) for key in cosigners):
            continue
        for key in trusted:
            if key.key_id == key_id and key.name.encode("utf-8", "surrogatepass") == name.encode("utf-8"):
                ok = len(signature) == 64 and attest_core.ed25519_verify_libsodium_policy(
                    key.public_key, checkpoint.body, signature)
                if not ok:
                    raise OpError("CKP_SIGNATURE_INVALID", f"signature by {name!r}")
                verified += 1
    if not verified:
        raise OpError("CKP_NO_TRUSTED_SIGNATURE")
    return checkpoint


def _is_key(key: VerifierKey, name: str, key_id: bytes) -> bool:
    return key.key_id == key_id and key.name.encode("utf-8", "surrogatepass") == name.encode("utf-8")


COSIGNATURE_TYPE = b"\x04"  # C2SP tlog-cosignature, Ed25519
MAX_COSIGNATURE_TIME = (1 << 63) - 1


def parse_cosigner_key(text) -> VerifierKey:
    """A witness key `name+hex(key ID)+base64(0x04 || Ed25519 key)`: a text of any other
    signature type is KEY_INVALID where a cosigner key is required."""
    key = parse_verifier_key(text, COSIGNATURE_TYPE)
    if key.name == "":
        raise OpError("KEY_INVALID", "a cosigner key has a name")
    return key


def cosigned_message(body: bytes, time: int) -> bytes:
    return b"cosignature/v1\ntime " + str(time).encode("ascii") + b"\n" + body


def verify_cosignatures(checkpoint: Checkpoint, witnesses: list[VerifierKey]) -> list[tuple[str, int]]:
    """checkpoint.md step 8: the cosignatures of trusted witness keys on a verified
    checkpoint, in line order, as (witness name, timestamp); each must be an 8-byte
    big-endian timestamp of at most 2^63 - 1 and a 64-byte Ed25519 signature of
    `cosignature/v1\ntime <T>\n` and the body (CKP_COSIGNATURE_INVALID)."""
    found = []
    for name, key_id, rest in checkpoint.signatures:
        witness = next((w for w in witnesses if _is_key(w, name, key_id)), None)
        if witness is None:
            continue
        if len(rest) != 8 + 64:
            raise OpError("CKP_COSIGNATURE_INVALID", f"cosignature by {name!r} is not a timestamp and a signature")
        time = int.from_bytes(rest[:8], "big")
        if time > MAX_COSIGNATURE_TIME:
            raise OpError("CKP_COSIGNATURE_INVALID", f"cosignature by {name!r} has a timestamp beyond 2^63 - 1")
        if not attest_core.ed25519_verify_libsodium_policy(witness.public_key, cosigned_message(checkpoint.body, time), rest[8:]):
            raise OpError("CKP_COSIGNATURE_INVALID", f"cosignature by {name!r} does not verify")
        found.append((witness.name, time))
    return found


def check_successor(earlier: Checkpoint, later: Checkpoint, proof: list[bytes]) -> None:
    """Two verified checkpoints of one log in order of publication: a smaller later size
    is a rollback (CKP_ROLLBACK); equal sizes need equal roots (CKP_EQUIVOCATION); a
    larger one needs a consistency proof (merkle.md, MRK_*), but from size 0, where the
    proof is empty and the earlier root is the empty tree's (MRK_CONSISTENCY_INVALID)."""
    if later.size < earlier.size:
        raise OpError("CKP_ROLLBACK", f"size {later.size} after {earlier.size}")
    if later.size == earlier.size:
        if later.root != earlier.root:
            raise OpError("CKP_EQUIVOCATION", f"two roots for size {later.size}")
        return
    if earlier.size == 0:
        if proof:
            raise OpError("MRK_CONSISTENCY_INVALID", "growth from the empty tree needs an empty proof")
        if earlier.root != merkle_root([]):
            raise OpError("MRK_CONSISTENCY_INVALID", "a checkpoint of size 0 does not carry the empty tree's root")
        return
    verify_consistency(earlier.size, later.size, earlier.root, later.root, proof)


# --- Receipts (receipt.md) --------------------------------------------------------------

RECEIPT_TYPE = "mcp-attest/receipt/v1"
RECEIPT_DOMAIN = "receipt"
COMMITMENT_LABEL = b"MCP-ATTEST-v1:commitment\x00"
DECISIONS = ("ALLOW", "DENY", "PHANTOM", "RESULT", "REVOKE")
RESULT_CODES = ("PTL_UPSTREAM_FAILED", "PTL_OUTCOME_UNKNOWN")
GOVERNED_METHODS = ("tools/call", "tools/list", "resources/list", "resources/templates/list",
                    "resources/read", "prompts/list", "prompts/get", "completion/complete")
REQUIRED_MEMBERS = ("type", "log", "seq", "time", "prev", "artifact", "session", "method", "decision", "sig")
OPTIONAL_MEMBERS = ("agent", "tool", "code", "call", "request", "response", "upstream", "tools_sha256", "shadow")
# A REVOKE has exactly these members (receipt.md §Revocation).
REVOKE_MEMBERS = ("type", "log", "seq", "time", "prev", "artifact", "decision", "sig")
CARRIERS = ("dev.agent-attestation/token", "dev.agent-attestation/proof", "dev.agent-attestation/operator")
DENIAL_CODE = -31000
MAX_INTEGER = 1 << 53


def _same(a: str, b: str) -> bool:
    """Code point equality (a Python str is a sequence of code points)."""
    return isinstance(a, str) and isinstance(b, str) and len(a) == len(b) and all(x == y for x, y in zip(a, b))


def json_integer(value):
    """The integer a JSON number denotes, or None: an int, or a float with an integral
    value (the strict parser reads every number as a double), within ±2^53 (receipt.md)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)  # an int literal reads as the nearest double, as in the parser
    except OverflowError:
        return None
    if not math.isfinite(value) or value != math.floor(value) or abs(value) > MAX_INTEGER:
        return None
    return int(value)


def _text(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: the strict parser refuses it
        raise BadRequest("a string that is not Unicode scalar values")
    return value


def to_model(value):
    """A JSON value as the strict parser represents it (every number a float), so that
    JCS sees doubles; a value no JSON text could give is a harness error."""
    if isinstance(value, dict):
        return {_text(k): to_model(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_model(v) for v in value]
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        try:
            f = float(value)
        except OverflowError:
            raise BadRequest("a number beyond the range of a double")
        if not math.isfinite(f):
            raise BadRequest("a non-finite number")
        return f
    raise BadRequest(f"not a JSON value: {type(value).__name__}")


def _b64url32(value) -> bytes | None:
    """The 32 bytes a base64url string holds, or None."""
    if not isinstance(value, str):
        return None
    try:
        raw = b64url_decode(value)
    except OpError:
        return None
    return raw if len(raw) == HASH_SIZE else None


def upstream_is_well_formed(value) -> bool:
    """artifact.md's `upstream`: {"transport": "stdio", "executable_sha256": 64 lowercase
    hex digits, "files_sha256"?: 1 to 16 of those} or {"transport": "http", "url":
    non-empty string, "spki_sha256": base64url of 32 bytes}, exactly those members."""
    if not isinstance(value, dict) or not isinstance(value.get("transport"), str):
        return False
    transport = value["transport"]
    if _same(transport, "stdio"):
        def hex64(d):
            return isinstance(d, str) and re.fullmatch(r"[0-9a-f]{64}", d) is not None
        files = value.get("files_sha256", [""])
        return (set(value) - {"files_sha256"} == {"transport", "executable_sha256"} and hex64(value["executable_sha256"])
                and ("files_sha256" not in value
                     or (isinstance(files, list) and 1 <= len(files) <= 16 and all(hex64(f) for f in files))))
    if _same(transport, "http"):
        return (set(value) == {"transport", "url", "spki_sha256"} and isinstance(value["url"], str)
                and value["url"] != "" and _b64url32(value["spki_sha256"]) is not None)
    return False


class Receipt:
    """A receipt of the shape of receipt.md §Fields (see parse_receipt)."""

    def __init__(self, value: dict):
        self.value = value
        self.type = value["type"]
        self.log = value["log"]
        self.seq = json_integer(value["seq"])
        self.time = json_integer(value["time"])
        self.prev = b64url_decode(value["prev"])
        self.artifact = value["artifact"]
        self.session = value.get("session")  # absent on a REVOKE
        self.agent = value.get("agent")
        self.method = value.get("method")  # absent on a REVOKE
        self.tool = value.get("tool")
        self.decision = value["decision"]
        self.code = value.get("code")
        self.call = json_integer(value["call"]) if "call" in value else None
        self.request = b64url_decode(value["request"]) if "request" in value else None
        self.response = b64url_decode(value["response"]) if "response" in value else None
        self.upstream = value.get("upstream")
        self.tools_sha256 = value.get("tools_sha256")
        self.shadow = value.get("shadow")
        self.sig = value.get("sig")  # absent on a receipt line of a bundle
        body = {k: v for k, v in value.items() if k != "sig"}
        self.canonical = canonicalize(to_model(body))
        self.link = hashlib.sha256(self.canonical).digest()
        self.leaf_hash = leaf_hash(self.link)

    @property
    def is_open(self) -> bool:
        """An ALLOW written before forwarding: it opens a call that a RESULT completes."""
        return self.decision == "ALLOW" and self.response is None


def _rcp_malformed(why: str) -> OpError:
    return OpError("RCP_MALFORMED", why)


def parse_bundle_receipt(value) -> Receipt:
    """A receipt line of a bundle (bundle.md §Layout, BND-040): the receipt without
    `sig`; a line with `sig` is RCP_MALFORMED. The other members as parse_receipt."""
    if isinstance(value, dict) and "sig" in value:
        raise _rcp_malformed("a receipt line of a bundle carries no sig")
    return parse_receipt(value, signed=False)


def parse_receipt(value, signed: bool = True) -> Receipt:
    """receipt.md §Fields and RCP-002, -003, -012, -016, -017, -018, -024, -026, -027;
    every failure is RCP_MALFORMED, so their order does not matter. `signed` False reads
    the bundle form, without `sig` (parse_bundle_receipt)."""
    if not isinstance(value, dict):
        raise _rcp_malformed("a receipt is a JSON object")
    if not signed:
        return _parse_unsigned(value)
    for name in value:
        if name not in REQUIRED_MEMBERS and name not in OPTIONAL_MEMBERS:
            raise _rcp_malformed(f"unknown member {name!r}")
    revoke = isinstance(value.get("decision"), str) and _same(value["decision"], "REVOKE")
    if revoke:
        # A REVOKE records no call: exactly its members (RCP-026).
        for name in value:
            if name not in REVOKE_MEMBERS:
                raise _rcp_malformed(f"a REVOKE has no {name!r}")
    for name in (REVOKE_MEMBERS if revoke else REQUIRED_MEMBERS):
        if name not in value:
            raise _rcp_malformed(f"no {name!r}")
    for name in ("type", "log", "prev", "artifact", "session", "method", "decision",
                 "tool", "code", "request", "response", "tools_sha256", "shadow"):
        if name in value and not isinstance(value[name], str):
            raise _rcp_malformed(f"{name!r} is not a string")
    for name in ("log", "artifact", "session", "tool", "code", "shadow"):
        if name in value and value[name] == "":
            raise _rcp_malformed(f"{name!r} is empty")
    if not _same(value["type"], RECEIPT_TYPE):
        raise _rcp_malformed("type")
    seq, time = json_integer(value["seq"]), json_integer(value["time"])
    if seq is None or seq < 0:
        raise _rcp_malformed("seq is not an integer >= 0")
    if time is None or time < 0:
        raise _rcp_malformed("time is not an integer >= 0")
    if _b64url32(value["prev"]) is None:
        raise _rcp_malformed("prev is not the base64url of 32 bytes")
    if revoke:
        return _check_sig(value)
    if "agent" in value:
        agent = value["agent"]
        if (not isinstance(agent, dict) or set(agent) != {"sub", "jkt"} or not isinstance(agent["sub"], str)
                or not isinstance(agent["jkt"], str)):
            raise _rcp_malformed("agent is not {sub, jkt}")
    method = value["method"]
    if not any(_same(method, m) for m in GOVERNED_METHODS):
        raise _rcp_malformed(f"method {method!r} is not a governed method")
    if ("tool" in value) != _same(method, "tools/call"):
        raise _rcp_malformed("tool is present exactly when method is tools/call")
    decision = value["decision"]
    if not any(_same(decision, d) for d in DECISIONS):
        raise _rcp_malformed(f"decision {decision!r}")
    has = {name: name in value for name in OPTIONAL_MEMBERS}
    if decision == "RESULT":
        if has["request"] or not has["response"] or not has["call"]:
            raise _rcp_malformed("a RESULT has response and call and no request")
        call = json_integer(value["call"])
        if call is None or call < 0 or call >= seq:
            raise _rcp_malformed("call is not a seq below the RESULT's own")
        if has["code"] and not any(_same(value["code"], c) for c in RESULT_CODES):
            raise _rcp_malformed("a RESULT's code")
    else:
        if has["call"]:
            raise _rcp_malformed("call on a receipt other than a RESULT")
        if not has["request"]:
            raise _rcp_malformed(f"a {decision} without request")
        if decision == "ALLOW":
            if has["code"]:
                raise _rcp_malformed("a code on an ALLOW")
        else:
            if not has["code"]:
                raise _rcp_malformed(f"a {decision} without code")
            if not has["response"]:
                raise _rcp_malformed(f"a {decision} without response")
    for name in ("request", "response"):
        if has[name] and _b64url32(value[name]) is None:
            raise _rcp_malformed(f"{name} is not the base64url of 32 bytes")
    if has["upstream"] and (decision != "ALLOW" or not upstream_is_well_formed(value["upstream"])):
        raise _rcp_malformed("upstream")
    if has["tools_sha256"] and (decision != "ALLOW" or _b64url32(value["tools_sha256"]) is None):
        raise _rcp_malformed("tools_sha256")
    if has["shadow"] and decision != "ALLOW":
        raise _rcp_malformed("shadow on a receipt other than an ALLOW")
    return _check_sig(value)


def _parse_unsigned(value: dict) -> Receipt:
    """parse_receipt's checks on a receipt without `sig`: they run on the value with a
    well-formed placeholder `sig`, which the returned Receipt does not keep."""
    placeholder = {"alg": attest_core.ED25519, "kid": "-", "value": ""}
    parse_receipt(dict(value, sig=placeholder))
    return Receipt(value)


def _check_sig(value: dict) -> Receipt:
    """The `sig` member's shape, then the Receipt."""
    sig = value["sig"]
    if (not isinstance(sig, dict) or set(sig) != {"alg", "kid", "value"}
            or not all(isinstance(sig[k], str) for k in sig)):
        raise _rcp_malformed("sig is not {alg, kid, value} strings")
    if not _same(sig["alg"], attest_core.ED25519):
        raise _rcp_malformed("sig.alg is not Ed25519")
    try:
        b64url_decode(sig["value"])
    except OpError:
        raise _rcp_malformed("sig.value is not base64url")
    return Receipt(value)


def check_receipt_signature(receipt: Receipt, log_key: VerifierKey) -> None:
    """RCP-005 then RCP-004: sig.kid is the log key's thumbprint (RCP_KEY_UNTRUSTED),
    then the signature verifies over the `receipt` domain-separated canonical form
    (RCP_SIGNATURE_INVALID)."""
    if not _same(receipt.sig["kid"], log_key.thumbprint):
        raise OpError("RCP_KEY_UNTRUSTED", "sig.kid is not the log key's thumbprint")
    signature = b64url_decode(receipt.sig["value"])
    message = attest_core.signed_bytes(receipt.canonical, RECEIPT_DOMAIN)
    if len(signature) != 64 or not attest_core.ed25519_verify_libsodium_policy(log_key.public_key, message, signature):
        raise OpError("RCP_SIGNATURE_INVALID")


def verify_receipt(value, log_key) -> Receipt:
    """receipt.md, in order: the shape (RCP_MALFORMED), the log key, a VerifierKey or
    its text (KEY_INVALID), then the kid and the signature."""
    receipt = parse_receipt(value)
    if not isinstance(log_key, VerifierKey):
        log_key = parse_verifier_key(log_key)
    check_receipt_signature(receipt, log_key)
    return receipt


def commitment(salt: bytes, payload) -> bytes:
    return hashlib.sha256(COMMITMENT_LABEL + salt + canonicalize(to_model(payload))).digest()


def _disclosure_malformed(why: str) -> OpError:
    return OpError("RCP_DISCLOSURE_MALFORMED", why)


def disclosure_members(receipt: Receipt) -> tuple[str, ...]:
    """The members a disclosure of this receipt holds (receipt.md): none for a REVOKE,
    which commits to nothing."""
    if receipt.decision == "REVOKE":
        return ()
    if receipt.decision == "RESULT":
        return ("response", "response_salt")
    if receipt.is_open:
        return ("request", "request_salt")
    return ("request", "request_salt", "response", "response_salt")


def is_denial(response, code: str) -> bool:
    """The JSON-RPC error object of a portal denial carrying `code` (mcp-binding.md):
    its `code` is -31000 and its `data.code` is the code."""
    if not isinstance(response, dict):
        return False
    number = json_integer(response.get("code"))
    data = response.get("data")
    return number == DENIAL_CODE and isinstance(data, dict) and _same(data.get("code"), code)


def check_disclosure(receipt: Receipt, disclosure: dict) -> None:
    """receipt.md §Payload commitments and disclosure, checks 1 to 4 in order (RCP-015)."""
    # 1. Shape: exactly the members the receipt's commitments call for, 32-byte salts,
    #    and no credential carrier in the request's _meta.
    expected = disclosure_members(receipt)
    if not isinstance(disclosure, dict):
        raise _disclosure_malformed("a disclosure is an object")
    if not disclosure:
        raise _disclosure_malformed("nothing is disclosed")
    for name in disclosure:
        if name not in expected:
            raise _disclosure_malformed(f"member {name!r} is not called for")
    for name in expected:
        if name not in disclosure:
            raise _disclosure_malformed(f"no {name!r}")
    salts = {}
    for name in ("request", "response"):
        if name in expected:
            salts[name] = _b64url32(disclosure[name + "_salt"])
            if salts[name] is None:
                raise _disclosure_malformed(f"{name}_salt is not the base64url of 32 bytes")
    if "request" in expected:
        request = disclosure["request"]
        meta = request.get("_meta") if isinstance(request, dict) else None
        if isinstance(meta, dict) and any(carrier in meta for carrier in CARRIERS):
            raise _disclosure_malformed("the request's _meta holds a credential carrier")
    # 2. The commitments: the request's, then the response's.
    for name in ("request", "response"):
        if name in expected:
            committed = receipt.request if name == "request" else receipt.response
            if commitment(salts[name], disclosure[name]) != committed:
                raise OpError("RCP_COMMITMENT_MISMATCH", f"the {name} does not reproduce its commitment")
    # 3. A tools/call request names the receipt's tool.
    if "request" in expected and _same(receipt.method, "tools/call"):
        request = disclosure["request"]
        name = request.get("name") if isinstance(request, dict) else None
        if not _same(name, receipt.tool):
            raise OpError("RCP_COMMITMENT_MISMATCH", "the request's name is not the receipt's tool")
    # 4. A DENY, or a RESULT with a code, answered the client with the denial.
    if receipt.decision == "DENY" or (receipt.decision == "RESULT" and receipt.code is not None):
        if not is_denial(disclosure["response"], receipt.code):
            raise OpError("RCP_EFFECT_MISMATCH", f"the response is not the denial carrying {receipt.code}")


def verify_receipt_inclusion(value, note, proof, log_key):
    """receipt.md §Proving one receipt, in order: the receipt with the log key (RCP_*,
    KEY_INVALID after the receipt's shape), the checkpoint with the same key and the
    receipt's log as origin (CKP_*), and the inclusion of its leaf at index seq in the
    checkpoint's tree (MRK_*)."""
    receipt = parse_receipt(value)
    if not isinstance(log_key, VerifierKey):
        log_key = parse_verifier_key(log_key)
    check_receipt_signature(receipt, log_key)
    checkpoint = verify_checkpoint(note, [log_key], receipt.log)
    if callable(proof):  # the op reads its proof input only when it gets this far
        proof = proof()
    verify_inclusion(receipt.seq, checkpoint.size, receipt.leaf_hash, proof, checkpoint.root)
    return receipt, checkpoint


def check_receipt_signatures(receipts, log_key: VerifierKey) -> None:
    """The kid and signature of each receipt in the order given (RCP_KEY_UNTRUSTED, then
    RCP_SIGNATURE_INVALID), the first that fails giving the code: a plain loop, which a
    verifier of many signatures at once can replace if it reports the same first failure."""
    for receipt in receipts:
        check_receipt_signature(receipt, log_key)


def audit_held_receipts(values, note, log_key, proof_of):
    """receipt.md §Auditing held receipts, in order: each held receipt's shape
    (RCP_MALFORMED), the log key (KEY_INVALID), each one's kid and signature, the
    checkpoint with the first one's log as origin (CKP_*), then for each in the order
    held: its log (RCP_LOG_MISMATCH), its seq below the size (RCP_NOT_COVERED) and the
    inclusion of its leaf at index seq (any MRK_* failure is RCP_OMITTED).
    `proof_of(i, receipt, checkpoint)` gives the i-th held receipt's inclusion proof.
    Returns (the number audited, the checkpoint)."""
    if not isinstance(values, list) or not values:
        raise BadRequest("the held receipts are a non-empty list")
    held = [parse_receipt(v) for v in values]
    if not isinstance(log_key, VerifierKey):
        log_key = parse_verifier_key(log_key)
    check_receipt_signatures(held, log_key)
    checkpoint = verify_checkpoint(note, [log_key], held[0].log)
    for i, receipt in enumerate(held):
        if not _same(receipt.log, checkpoint.origin):
            raise OpError("RCP_LOG_MISMATCH", f"held receipt {receipt.seq} names another log")
        if receipt.seq >= checkpoint.size:
            raise OpError("RCP_NOT_COVERED", f"held receipt {receipt.seq} is beyond the checkpoint's size {checkpoint.size}")
        try:
            verify_inclusion(receipt.seq, checkpoint.size, receipt.leaf_hash, proof_of(i, receipt, checkpoint), checkpoint.root)
        except OpError as error:
            raise OpError("RCP_OMITTED", f"held receipt {receipt.seq} is not in the log at its seq ({error.code})") from None
    return len(held), checkpoint


# --- Exported proofs (receipt.md §Exporting one receipt's proof) ----------------------

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
MAX_PROOF_HASHES = 64


def _proof_malformed(why: str) -> OpError:
    return OpError("RCP_PROOF_MALFORMED", why)


def _std_b64(text: str):
    """Standard padded base64 in its one canonical spelling, or None."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if text and base64.b64encode(raw).decode() == text else None


def verify_tlog_proof(text: str, log_key):
    """The four ordered steps for a tlog proof: its format (RCP_PROOF_MALFORMED), the
    receipt in extra (JSON_*, RCP_*, KEY_INVALID), the index against seq
    (RCP_PROOF_MALFORMED), then the checkpoint and the inclusion (CKP_*, MRK_*)."""
    data = text.encode("utf-8")
    if len(data) > 1 << 20:
        raise _proof_malformed("a tlog proof is at most 1 MiB")
    blank = data.find(b"\n\n")
    if blank < 0:
        raise _proof_malformed("no empty line before the checkpoint")
    lines = data[:blank].split(b"\n")
    note = data[blank + 2:].decode("utf-8", errors="replace")
    if len(lines) < 3 or lines[0] != TLOG_PROOF_HEADER.encode():
        raise _proof_malformed("not a tlog-proof@v1")
    extra = _std_b64(lines[1][6:].decode("latin-1")) if lines[1].startswith(b"extra ") else None
    if extra is None:
        raise _proof_malformed("the extra line")
    digits = lines[2][6:] if lines[2].startswith(b"index ") else b""
    if not (re.fullmatch(rb"0|[1-9][0-9]{0,18}", digits) and int(digits) < 1 << 64):
        raise _proof_malformed("the index line")
    if len(lines) - 3 > MAX_PROOF_HASHES:
        raise _proof_malformed("too many proof lines")
    proof = []
    for line in lines[3:]:
        h = _std_b64(line.decode("latin-1"))
        if h is None or len(h) != HASH_SIZE:
            raise _proof_malformed("a proof line is not the base64 of 32 bytes")
        proof.append(h)
    receipt = verify_receipt(attest_core.parse_strict_json(extra), log_key)
    if int(digits) != receipt.seq:
        raise _proof_malformed("the index is not the receipt's seq")
    if not isinstance(log_key, VerifierKey):
        log_key = parse_verifier_key(log_key)
    checkpoint = verify_checkpoint(note, [log_key], receipt.log)
    verify_inclusion(receipt.seq, checkpoint.size, receipt.leaf_hash, proof, checkpoint.root)
    return receipt, checkpoint.size


class _CBORReader:
    """The deterministic CBOR subset of a COSE Receipt (RFC 8949 §4.2.1): integers,
    byte and text strings, arrays, maps with keys in increasing bytewise order, tags and
    null; shortest arguments only. Values: int, bytes, str, list, dict (key -> value, in
    order), ("tag", n, value) and None. Any other byte raises ValueError."""

    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def take(self, n):
        if n > len(self.data) - self.at:
            raise ValueError("past the end")
        chunk = self.data[self.at:self.at + n]
        self.at += n
        return chunk

    def item(self, depth=0):
        if depth > 8:
            raise ValueError("too deep")
        first = self.take(1)[0]
        major, info = first >> 5, first & 0x1F
        if major == 7:
            if info == 22:
                return None
            raise ValueError("simple value")
        if info < 24:
            n = info
        elif info in (24, 25, 26, 27):
            width = {24: 1, 25: 2, 26: 4, 27: 8}[info]
            n = int.from_bytes(self.take(width), "big")
            if n < {1: 24, 2: 0x100, 4: 0x10000, 8: 0x100000000}[width]:
                raise ValueError("argument not in its shortest form")
        else:
            raise ValueError("indefinite or reserved")
        if major == 0:
            return n
        if major == 1:
            return -1 - n
        if major in (2, 3):
            if n > 1 << 16:
                raise ValueError("too long")
            raw = self.take(n)
            return raw if major == 2 else raw.decode("utf-8")
        if major == 4:
            if n > 1024:
                raise ValueError("too many items")
            return [self.item(depth + 1) for _ in range(n)]
        if major == 5:
            if n > 1024:
                raise ValueError("too many items")
            out, previous = {}, None
            for _ in range(n):
                start = self.at
                key = self.item(depth + 1)
                encoded = self.data[start:self.at]
                if previous is not None and not previous < encoded:
                    raise ValueError("map keys not in increasing order")
                previous = encoded
                if isinstance(key, (list, dict, tuple)):
                    raise ValueError("a key of another kind")
                out[key] = self.item(depth + 1)
            return out
        return ("tag", n, self.item(depth + 1))


def _cbor(data: bytes):
    reader = _CBORReader(data)
    value = reader.item()
    if reader.at != len(data):
        raise ValueError("trailing bytes")
    return value


def _cbor_head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for info, width in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * width):
            return bytes([major << 5 | info]) + n.to_bytes(width, "big")
    raise ValueError("too large")


def _sig_structure(protected: bytes, root: bytes) -> bytes:
    """["Signature1", protected, h'', root] in CBOR."""
    out = _cbor_head(4, 4) + _cbor_head(3, 10) + b"Signature1"
    for b in (protected, b"", root):
        out += _cbor_head(2, len(b)) + b
    return out


def verify_cose_receipt(data: bytes, receipt_value, log_key):
    """The five ordered steps for a COSE Receipt: structure, headers and alg -19
    (RCP_PROOF_MALFORMED), the receipt (RCP_*, KEY_INVALID), the leaf index against seq
    (RCP_PROOF_MALFORMED), the root of the path (MRK_*), the signature over it
    (RCP_PROOF_SIGNATURE_INVALID)."""
    try:
        if len(data) > 1 << 16:
            raise ValueError("too large")
        sign1 = _cbor(data)
        if not (isinstance(sign1, tuple) and sign1[1] == 18 and isinstance(sign1[2], list) and len(sign1[2]) == 4):
            raise ValueError("not a tagged COSE_Sign1")
        protected, unprotected, payload, signature = sign1[2]
        header = _cbor(protected) if isinstance(protected, bytes) else None
        if not (isinstance(header, dict) and len(header) == 2 and header.get(395) == 1 and 1 in header):
            raise ValueError("the protected header")
        if header[1] != -19 or isinstance(header[1], bool):
            raise ValueError("alg is not -19")
        vdp = unprotected.get(396) if isinstance(unprotected, dict) and len(unprotected) == 1 else None
        proofs = vdp.get(-1) if isinstance(vdp, dict) and len(vdp) == 1 else None
        if not (isinstance(proofs, list) and len(proofs) == 1 and isinstance(proofs[0], bytes)):
            raise ValueError("the unprotected header")
        inclusion = _cbor(proofs[0])
        if not (isinstance(inclusion, list) and len(inclusion) == 3 and all(isinstance(x, int) and x >= 0 for x in inclusion[:2])
                and isinstance(inclusion[2], list) and len(inclusion[2]) <= MAX_PROOF_HASHES
                and all(isinstance(h, bytes) and len(h) == HASH_SIZE for h in inclusion[2])):
            raise ValueError("the inclusion proof")
        if payload is not None or not isinstance(signature, bytes) or len(signature) != 64:
            raise ValueError("payload or signature")
    except (ValueError, UnicodeDecodeError) as error:
        raise _proof_malformed(str(error)) from None
    size, index, path = inclusion
    receipt = verify_receipt(receipt_value, log_key)
    if not isinstance(log_key, VerifierKey):
        log_key = parse_verifier_key(log_key)
    if index != receipt.seq:
        raise _proof_malformed("the leaf index is not the receipt's seq")
    root = inclusion_root(index, size, receipt.leaf_hash, path)
    if not attest_core.ed25519_verify_libsodium_policy(log_key.public_key, _sig_structure(protected, root), signature):
        raise OpError("RCP_PROOF_SIGNATURE_INVALID", "the signature does not verify over the root")
    # The tree size is in the unprotected header and not authenticated: the signed root is returned.
    return receipt, root


# --- Ops --------------------------------------------------------------------------------


def _int(inp: dict, name: str) -> int:
    # An integer by value (json.md §Integers): 7, 7.0 and 7e0 are one size.
    value = field(inp, name, kind=None)
    if isinstance(value, float) and not isinstance(value, bool) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{name} is not an integer")
    return value


def _hashes(inp: dict, name: str) -> list[bytes]:
    values = field(inp, name, kind=list)
    return [from_hex(v, name) for v in values]


def _trusted(inp: dict, name: str) -> list[VerifierKey]:
    return parse_verifier_keys(field(inp, name, kind=list))


def op_merkle_root(context: dict, inp: dict) -> dict:
    return {"root": merkle_root(_hashes(inp, "leaves")).hex()}


def op_merkle_inclusion(context: dict, inp: dict) -> dict:
    verify_inclusion(_int(inp, "index"), _int(inp, "tree_size"), from_hex(field(inp, "leaf_hash"), "leaf_hash"),
                     _hashes(inp, "proof"), from_hex(field(inp, "root"), "root"))
    return {}


def op_merkle_consistency(context: dict, inp: dict) -> dict:
    verify_consistency(_int(inp, "size1"), _int(inp, "size2"), from_hex(field(inp, "root1"), "root1"),
                       from_hex(field(inp, "root2"), "root2"), _hashes(inp, "proof"))
    return {}


def op_checkpoint_verify(context: dict, inp: dict) -> dict:
    origin = inp.get("origin")
    if origin is not None and not isinstance(origin, str):
        raise BadRequest("origin is not a string")
    checkpoint = verify_checkpoint(field(inp, "note"), _trusted(inp, "trusted"), origin)
    return {"origin": checkpoint.origin, "size": checkpoint.size, "root": checkpoint.root.hex()}


def op_checkpoint_cosignatures(context: dict, inp: dict) -> dict:
    origin = inp.get("origin")
    if origin is not None and not isinstance(origin, str):
        raise BadRequest("origin is not a string")
    trusted = _trusted(inp, "trusted")
    values = field(inp, "witnesses", kind=None)
    if not isinstance(values, list):
        raise BadRequest("witnesses are a list")
    witnesses = [parse_cosigner_key(v) for v in values]
    checkpoint = verify_checkpoint(field(inp, "note"), trusted, origin, witnesses)
    return {"origin": checkpoint.origin, "size": checkpoint.size, "root": checkpoint.root.hex(),
            "cosignatures": [{"name": n, "time": t} for n, t in verify_cosignatures(checkpoint, witnesses)]}


def op_checkpoint_successor(context: dict, inp: dict) -> dict:
    trusted = _trusted(inp, "trusted")
    earlier = verify_checkpoint(field(inp, "earlier"), trusted)
    later = verify_checkpoint(field(inp, "later"), trusted, earlier.origin)
    check_successor(earlier, later, _hashes(inp, "consistency"))
    return {}


def op_receipt_verify(context: dict, inp: dict) -> dict:
    receipt = verify_receipt(field(inp, "receipt", kind=None), field(inp, "log_key", kind=None))
    return {"canonical": receipt.canonical.hex(), "link": receipt.link.hex(), "leaf_hash": receipt.leaf_hash.hex()}


def op_receipt_inclusion(context: dict, inp: dict) -> dict:
    receipt, checkpoint = verify_receipt_inclusion(
        field(inp, "receipt", kind=None), field(inp, "checkpoint"), lambda: _hashes(inp, "proof"),
        field(inp, "log_key", kind=None))
    return {"leaf_hash": receipt.leaf_hash.hex(), "tree_size": checkpoint.size}


def op_receipt_audit(context: dict, inp: dict) -> dict:
    held = field(inp, "receipts", kind=list)
    proofs = field(inp, "proofs", kind=list)
    if not held or len(proofs) != len(held):
        raise BadRequest("at least one held receipt, and one proof per held receipt")
    proofs = [[from_hex(h, "proofs") for h in (p if isinstance(p, list) else _not_a_list())] for p in proofs]
    audited, _ = audit_held_receipts(held, field(inp, "checkpoint"), field(inp, "log_key", kind=None), lambda i, r, c: proofs[i])
    return {"audited": audited}


def _not_a_list():
    raise BadRequest("each proof is a list of hashes")


def op_receipt_verify_proof(context: dict, inp: dict) -> dict:
    fmt = field(inp, "format")
    if fmt == "tlog-proof":
        receipt, size = verify_tlog_proof(field(inp, "proof"), field(inp, "log_key", kind=None))
        return {"seq": receipt.seq, "tree_size": size}
    if fmt == "cose-receipt":
        receipt, root = verify_cose_receipt(from_hex(field(inp, "proof"), "proof"), field(inp, "receipt", kind=None),
                                            field(inp, "log_key", kind=None))
        return {"seq": receipt.seq, "root": attest_core.b64url_encode(root)}
    raise BadRequest("format is tlog-proof or cose-receipt")


def op_receipt_disclosure(context: dict, inp: dict) -> dict:
    receipt = parse_receipt(field(inp, "receipt", kind=None))
    check_disclosure(receipt, {k: v for k, v in inp.items() if k != "receipt"})
    return {}


OPS = {
    "merkle.root": op_merkle_root,
    "merkle.inclusion": op_merkle_inclusion,
    "merkle.consistency": op_merkle_consistency,
    "checkpoint.verify": op_checkpoint_verify,
    "checkpoint.cosignatures": op_checkpoint_cosignatures,
    "checkpoint.successor": op_checkpoint_successor,
    "receipt.verify": op_receipt_verify,
    "receipt.inclusion": op_receipt_inclusion,
    "receipt.disclosure": op_receipt_disclosure,
    "receipt.audit": op_receipt_audit,
    "receipt.verify-proof": op_receipt_verify_proof,
}

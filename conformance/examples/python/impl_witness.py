"""witness.md: a witness's add-checkpoint algorithm as a function of its records, the
request body, the time and its key: witness.add-checkpoint."""
import base64
import binascii
import re
import struct

import attest_core
from attest_core import BadRequest, OpError, field, from_hex
from impl_log import (COSIGNATURE_TYPE, MAX_NOTE_BYTES, cosigned_message, merkle_root, note_key_id, parse_note,
                      parse_verifier_keys, verify_checkpoint, verify_consistency, _int)

MAX_BODY_BYTES = MAX_NOTE_BYTES + 4096
MAX_PROOF_LINES = 63


def _b64_hash(line: bytes) -> bytes | None:
    """Standard padded base64, in its one spelling, of 32 bytes."""
    if not re.fullmatch(rb"[A-Za-z0-9+/]*={0,2}", line) or len(line) % 4:
        return None
    try:
        raw = base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 and base64.b64encode(raw) == line else None


def parse_request(body: bytes) -> tuple[int, list[bytes], str]:
    """Step 1: `old <size>`, at most 63 proof lines, an empty line, then UTF-8 text."""
    def malformed(why):
        return OpError("WIT_REQUEST_MALFORMED", why)
    if len(body) > MAX_BODY_BYTES:
        raise malformed("the body is too large")
    lines, start = [], 0
    while True:
        end = body.find(b"\n", start)
        if end < 0:
            raise malformed("no empty line before the note")
        if end == start:
            break
        if len(lines) > MAX_PROOF_LINES:
            raise malformed("more than 63 proof lines")
        lines.append(body[start:end])
        start = end + 1
    if not lines or not lines[0].startswith(b"old "):
        raise malformed("no old size line")
    digits = lines[0][4:]
    if not re.fullmatch(rb"0|[1-9][0-9]{0,19}", digits) or int(digits) >= 1 << 64:
        raise malformed("the old size is not decimal without leading zeros")
    proof = []
    for line in lines[1:]:
        h = _b64_hash(line)
        if h is None:
            raise malformed("a proof line is not the base64 of a 32-byte hash")
        proof.append(h)
    try:
        note = body[start + 1:].decode("utf-8")
    except UnicodeDecodeError:
        raise malformed("the note is not UTF-8")
    return int(digits), proof, note


def cosignature_line(name: str, seed: bytes, body: bytes, t: int) -> str:
    """The witness's C2SP tlog-cosignature line (checkpoint.md §Cosignatures): key ID of type
    0x04, 8-byte big-endian time, Ed25519 signature of the cosigned message."""
    public_key, signature = attest_core.ed25519_sign(seed, cosigned_message(body, t))
    key_id = note_key_id(name, public_key, COSIGNATURE_TYPE)
    return "\u2014 %s %s\n" % (name, base64.b64encode(key_id + struct.pack(">Q", t) + signature).decode())


def add_checkpoint(records: dict, body: bytes, logs: list, t: int, name: str, seed: bytes):
    """witness.md §Verifying a request; returns the new record and the cosignature line."""
    old, proof, note = parse_request(body)
    try:
        parse_note(note)  # step 2
    except OpError as e:
        raise OpError("WIT_REQUEST_MALFORMED", f"the note is not a checkpoint: {e.code}")
    origin = note.split("\n", 1)[0]
    keys = [k for k in logs if k.name.encode("utf-8", "surrogatepass") == origin.encode("utf-8")]
    if not keys:
        raise OpError("WIT_UNKNOWN_LOG", origin)
    try:
        checkpoint = verify_checkpoint(note, keys, origin)
    except OpError as e:
        raise OpError("WIT_LOG_SIGNATURE_INVALID", e.code)
    if old > checkpoint.size:
        raise OpError("WIT_OLD_SIZE_INVALID", f"old {old} above {checkpoint.size}")
    empty = merkle_root([])
    size, root = records.get(origin.encode("utf-8"), (0, empty))
    if old != size:
        raise OpError("WIT_OLD_SIZE_MISMATCH", f"{size}")
    if checkpoint.size == 0 and checkpoint.root != empty:
        raise OpError("WIT_CONSISTENCY_INVALID", "size 0 without the empty root")
    if old == 0 and proof:
        raise OpError("WIT_CONSISTENCY_INVALID", "a proof from size 0")
    if old == checkpoint.size:
        if checkpoint.root != root:
            raise OpError("WIT_ROOT_CONFLICT", f"another root for size {old}")
    elif old != 0:
        try:
            verify_consistency(size, checkpoint.size, root, checkpoint.root, proof)
        except OpError as e:
            raise OpError("WIT_CONSISTENCY_INVALID", e.code)
    if t < 0 or t > (1 << 63) - 1:
        raise BadRequest("the time is not a cosignature timestamp")
    return checkpoint, cosignature_line(name, seed, checkpoint.body, t)


def op_witness_add_checkpoint(context: dict, inp: dict) -> dict:
    logs = parse_verifier_keys(field(context, "logs", kind=list))
    records = {}
    for r in field(inp, "records", kind=list):
        size = _int(r, "size")
        if size < 0 or size > (1 << 63) - 1:  # the records a witness keeps hold sizes below 2^63
            raise BadRequest("a record's size is not from 0 to 2^63 - 1")
        records[field(r, "origin").encode("utf-8")] = (size, from_hex(field(r, "root"), "root"))
    request = field(inp, "request")
    checkpoint, line = add_checkpoint(records, request.encode("utf-8"), logs, _int(inp, "time"),
                                      field(context, "witness_name"), from_hex(field(context, "witness_seed"), "witness_seed"))
    return {"cosignature": line,
            "record": {"origin": checkpoint.origin, "size": checkpoint.size, "root": checkpoint.root.hex()}}


OPS = {"witness.add-checkpoint": op_witness_add_checkpoint}

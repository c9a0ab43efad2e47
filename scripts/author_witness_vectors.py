#!/usr/bin/env python3
"""Authoring aid for the witness document's vectors (witness.add-checkpoint).

Every expected value is computed here with Python (hashlib, PyNaCl) from the rules of
spec/witness.md and C2SP tlog-cosignature, sharing no code with either implementation:
the Merkle trees, the log's signed notes, the request bodies and the witness's
cosignature lines. Each negative vector changes one thing of its positive control.

Usage: python3 scripts/author_witness_vectors.py   (from the repository root)
"""
import base64, hashlib, struct

import nacl.bindings

import vectorlib

sections = {}
S = "witness-add-checkpoint"
OP = "witness.add-checkpoint"


def sha(b): return hashlib.sha256(b).digest()
def b64(b): return base64.b64encode(b).decode()


class Key:
    def __init__(self, seed_byte):
        self.seed = bytes([seed_byte]) * 32
        self.pk, self.sk = nacl.bindings.crypto_sign_seed_keypair(self.seed)

    def sign(self, msg): return nacl.bindings.crypto_sign(msg, self.sk)[:64]

    def key_id(self, name, kind): return sha(name.encode() + b"\n" + bytes([kind]) + self.pk)[:4]

    def vkey(self, name): return name + "+" + self.key_id(name, 1).hex() + "+" + b64(bytes([1]) + self.pk)

    def note_sig(self, name, body):
        return f"\u2014 {name} {b64(self.key_id(name, 1) + self.sign(body.encode()))}\n"

    def cosign(self, name, body, t):
        """C2SP tlog-cosignature (type 0x04): key ID, 8-byte big-endian time, and the Ed25519
        signature of "cosignature/v1\\ntime <t>\\n" followed by the checkpoint body."""
        message = f"cosignature/v1\ntime {t}\n".encode() + body.encode()
        return f"\u2014 {name} {b64(self.key_id(name, 4) + struct.pack('>Q', t) + self.sign(message))}\n"


# Merkle trees (RFC 9162)
def leaf(d): return sha(b"\x00" + d)
def node(l, r): return sha(b"\x01" + l + r)
def split(n):
    k = 1
    while k * 2 < n: k *= 2
    return k
def mth(leaves):
    if not leaves: return sha(b"")
    if len(leaves) == 1: return leaf(leaves[0])
    k = split(len(leaves)); return node(mth(leaves[:k]), mth(leaves[k:]))
def subproof(m, leaves, b):
    n = len(leaves)
    if m == n: return [] if b else [mth(leaves)]
    k = split(n)
    return subproof(m, leaves[:k], b) + [mth(leaves[k:])] if m <= k else subproof(m - k, leaves[k:], False) + [mth(leaves[:k])]


LOG, OTHER, WITNESS = Key(0xC1), Key(0xC2), Key(0xC7)
ORIGIN, OTHER_ORIGIN, NAME = "portal.example/log/witnessed", "portal.example/log/unwitnessed", "witness.example/w1"
T = 1796083200
LEAVES = [b"receipt %d" % i for i in range(7)]
FORKED = LEAVES[:6] + [b"another receipt 6"]
CTX = {"logs": [LOG.vkey(ORIGIN)], "witness_name": NAME, "witness_seed": WITNESS.seed.hex()}


def body(size, root, origin=ORIGIN, extensions=""): return f"{origin}\n{size}\n{b64(root)}\n{extensions}"
def note(size, root, origin=ORIGIN, key=LOG, extensions=""):
    b = body(size, root, origin, extensions)
    return b + "\n" + key.note_sig(origin, b)
def request(old, proof, n): return f"old {old}\n" + "".join(b64(h) + "\n" for h in proof) + "\n" + n
def record(size, root, origin=ORIGIN): return {"origin": origin, "size": size, "root": root.hex()}
def inp(records, req): return {"records": records, "request": req, "time": T}
def accepted(size, root, extensions=""):
    return {"cosignature": WITNESS.cosign(NAME, body(size, root, extensions=extensions), T), "record": record(size, root)}


def valid(id, description, covers, records, req, output):
    vectorlib.valid(sections, S, id, OP, description, covers, inp(records, req), output, context=CTX)


def invalid(id, description, covers, records, req, error, base, mutation):
    vectorlib.invalid(sections, S, id, OP, description, covers, inp(records, req), error, base, mutation, context=CTX)


r3, r5, r7, f7 = mth(LEAVES[:3]), mth(LEAVES[:5]), mth(LEAVES), mth(FORKED)
c3, c7, fork7 = note(3, r3), note(7, r7), note(7, f7)
p37 = subproof(3, LEAVES, True)

valid("wit-first", "The first checkpoint of a configured log: old size 0, no proof; the witness records it and cosigns.",
      ["WIT-001", "WIT-010"], [], request(0, [], c3), accepted(3, r3))
valid("wit-successor", "A larger checkpoint with the consistency proof from the recorded size.",
      ["WIT-008", "WIT-010"], [record(3, r3)], request(3, p37, c7), accepted(7, r7))
valid("wit-same", "The recorded checkpoint again: same size and root, cosigned again.",
      ["WIT-009", "WIT-010"], [record(7, r7)], request(7, [], c7), accepted(7, r7))
valid("wit-empty", "A checkpoint of size 0 with the empty tree's root.", ["WIT-008"], [], request(0, [], note(0, sha(b""))),
      accepted(0, sha(b"")))
ext = "witness-policy: 2-of-3\n"
valid("wit-extension", "A checkpoint with an extension line: the cosignature covers the whole body.", ["WIT-010"], [],
      request(0, [], note(3, r3, extensions=ext)), accepted(3, r3, extensions=ext))
valid("wit-other-records", "The record of another log does not count for this one.", ["WIT-001"],
      [record(5, r5, OTHER_ORIGIN)], request(0, [], c3), accepted(3, r3))

invalid("wit-old-leading-zero", "The old size written with a leading zero.", ["WIT-003"], [record(3, r3)],
        request(3, p37, c7).replace("old 3\n", "old 03\n", 1), "WIT_REQUEST_MALFORMED", "wit-successor", "old 3 written old 03")
invalid("wit-proof-line-short", "A consistency proof line of 31 bytes.", ["WIT-003"], [record(3, r3)],
        request(3, [p37[0][:31]] + p37[1:], c7), "WIT_REQUEST_MALFORMED", "wit-successor", "first proof hash cut to 31 bytes")
invalid("wit-proof-64-lines", "64 consistency proof lines: over the protocol's 63.", ["WIT-003"], [record(3, r3)],
        request(3, p37 + [sha(b"pad")] * (64 - len(p37)), c7), "WIT_REQUEST_MALFORMED", "wit-successor",
        "proof lines padded to 64")
invalid("wit-note-malformed", "The note has no signature line.", ["WIT-003"], [], request(0, [], body(3, r3) + "\n"),
        "WIT_REQUEST_MALFORMED", "wit-first", "the log's signature line removed")
invalid("wit-unknown-log", "A checkpoint of a log the witness is not configured with, signed by that log's key.", ["WIT-004"], [],
        request(0, [], note(3, r3, OTHER_ORIGIN, OTHER)), "WIT_UNKNOWN_LOG", "wit-first",
        "note replaced by another log's of the same size and root")
invalid("wit-log-signature-invalid", "The size changed after the log signed.", ["WIT-005"], [], request(0, [], c3.replace("\n3\n", "\n4\n", 1)),
        "WIT_LOG_SIGNATURE_INVALID", "wit-first", "size 3 changed to 4")
invalid("wit-other-key", "Signed under the log's name by a key that is not the log's.", ["WIT-005"], [],
        request(0, [], note(3, r3, key=OTHER)), "WIT_LOG_SIGNATURE_INVALID", "wit-first", "the log's signature replaced by another key's")
invalid("wit-cosigned-only", "A valid cosignature by the witness itself, but no signature by the log: a cosignature is not the log's signature.",
        ["WIT-005"], [], request(0, [], body(3, r3) + "\n" + WITNESS.cosign(NAME, body(3, r3), T)),
        "WIT_LOG_SIGNATURE_INVALID", "wit-first", "the log's signature line replaced by the witness's cosignature")
invalid("wit-old-above-size", "The old size is above the checkpoint's size.", ["WIT-006"], [record(3, r3)],
        request(8, p37, c7), "WIT_OLD_SIZE_INVALID", "wit-successor", "old size 3 changed to 8")
invalid("wit-rollback", "A smaller checkpoint than the recorded one, sent from the recorded size: a rollback.", ["WIT-006"],
        [record(7, r7)], request(7, [], c3), "WIT_OLD_SIZE_INVALID", "wit-same", "note replaced by the size-3 checkpoint")
invalid("wit-old-mismatch", "The witness has recorded size 5; the client sends from size 3.", ["WIT-007"], [record(5, r5)],
        request(3, p37, c7), "WIT_OLD_SIZE_MISMATCH", "wit-successor", "the record changed from size 3 to size 5")
invalid("wit-bad-proof", "One consistency proof hash altered.", ["WIT-008"], [record(3, r3)],
        request(3, [sha(b"x")] + p37[1:], c7), "WIT_CONSISTENCY_INVALID", "wit-successor", "first proof hash replaced")
invalid("wit-fork-growth", "A forked checkpoint of size 7 with the proof of the true tree.", ["WIT-008"], [record(3, r3)],
        request(3, p37, fork7), "WIT_CONSISTENCY_INVALID", "wit-successor", "note replaced by a size-7 checkpoint over another seventh leaf")
invalid("wit-proof-from-zero", "A proof line with old size 0.", ["WIT-008"], [], request(0, [sha(b"x")], c3),
        "WIT_CONSISTENCY_INVALID", "wit-first", "a proof line added")
invalid("wit-empty-root", "A checkpoint of size 0 whose root is not the empty tree's.", ["WIT-008"], [],
        request(0, [], note(0, sha(b"x"))), "WIT_CONSISTENCY_INVALID", "wit-empty", "the root replaced by SHA-256(\"x\")")
invalid("wit-fork", "A second checkpoint of the recorded size with another root, signed by the log: a fork.", ["WIT-009"],
        [record(7, r7)], request(7, [], fork7), "WIT_ROOT_CONFLICT", "wit-same", "note replaced by a size-7 checkpoint over another seventh leaf")

vectorlib.write(sections, documents=["witness.md"])

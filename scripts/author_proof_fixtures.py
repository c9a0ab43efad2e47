#!/usr/bin/env python3
"""Writes Tests/Fixtures/receipt-proof-formats.json: one receipt's inclusion proof in the
two export formats of receipt.md §Exporting one receipt's proof, computed here with
Python (cbor2, PyNaCl, rfc8785) from the rules of that section, sharing no code with the
Swift implementation. The receipt, checkpoint and proof are those of the vector
`rcp-inclusion` (vectors/receipt.json), whose log key has the seed 0xB1 repeated (as in
scripts/author_evidence_vectors.py). The Swift tests (ReceiptProofFormatTests) and the
Python tests (Tests/python/test_receipt_proof_formats.py) check these bytes exactly.

Usage: python3 scripts/author_proof_fixtures.py   (from the repository root)
"""
import base64, hashlib, json, pathlib

import cbor2
import nacl.bindings
import rfc8785

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEED = bytes([0xB1]) * 32


def tlog_proof(receipt, proof, note):
    lines = ["c2sp.org/tlog-proof@v1", "extra " + base64.b64encode(rfc8785.dumps(receipt)).decode(), f"index {receipt['seq']}"]
    lines += [base64.b64encode(h).decode() for h in proof]
    return "\n".join(lines) + "\n\n" + note


def cose_receipt(index, size, proof, root, sk):
    protected = cbor2.dumps({1: -19, 395: 1}, canonical=True)
    to_sign = cbor2.dumps(["Signature1", protected, b"", root], canonical=True)
    signature = nacl.bindings.crypto_sign(to_sign, sk)[:64]
    inclusion = cbor2.dumps([size, index, list(proof)], canonical=True)
    return cbor2.dumps(cbor2.CBORTag(18, [protected, {396: {-1: [inclusion]}}, None, signature]), canonical=True)


def main():
    vectors = json.loads((ROOT / "vectors" / "receipt.json").read_text())
    vectors = vectors["vectors"] if isinstance(vectors, dict) else vectors
    v = next(x for x in vectors if x["id"] == "rcp-inclusion")["input"]
    receipt, note, proof = v["receipt"], v["checkpoint"], [bytes.fromhex(h) for h in v["proof"]]
    lines = note.split("\n")
    size, root = int(lines[1]), base64.b64decode(lines[2])
    _, sk = nacl.bindings.crypto_sign_seed_keypair(SEED)
    fixture = {
        "description": "receipt.md §Exporting one receipt's proof: receipt 3 of the five-receipt log of rcp-inclusion",
        "log_seed": SEED.hex(), "log_key": v["log_key"], "receipt": receipt, "checkpoint": note, "proof": v["proof"],
        "tlog_proof": tlog_proof(receipt, proof, note),
        "cose_receipt": cose_receipt(receipt["seq"], size, proof, root, sk).hex(),
    }
    out = ROOT / "Tests" / "Fixtures" / "receipt-proof-formats.json"
    out.write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


main()

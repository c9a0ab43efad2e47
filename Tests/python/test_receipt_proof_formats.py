"""One receipt's inclusion proof in the export formats of receipt.md §Exporting one
receipt's proof, read without the Swift code: the C2SP tlog-proof by a small reader
written here, the COSE Receipt (RFC 9942, RFC9162_SHA256) with cbor2 and cryptography.
The fixture's bytes (Tests/Fixtures/receipt-proof-formats.json) are checked here and by
ReceiptProofFormatTests in Swift; a real portal's `attest portal prove --format ...` output
is checked byte for byte against what this file builds from the same proof."""
import base64, hashlib, json, pathlib, subprocess

import cbor2
import nacl.bindings
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import evidence
from portal_fixture import World, assert_allowed, attest, call
from test_mcp_peers import attest_binary

FIXTURE = pathlib.Path(__file__).resolve().parent.parent / "Fixtures" / "receipt-proof-formats.json"


def sha(b):
    return hashlib.sha256(b).digest()


def leaf_hash(receipt):
    """receipt.md §Canonical form: the leaf data is SHA-256 of the JCS without sig."""
    return sha(b"\x00" + sha(rfc8785.dumps({k: v for k, v in receipt.items() if k != "sig"})))


def root_from_path(index, size, leaf, path):
    """RFC 9162 §2.1.3.2, written out again."""
    assert index < size
    fn, sn, r = index, size - 1, leaf
    for p in path:
        assert sn != 0, "path too long"
        if fn & 1 or fn == sn:
            r = sha(b"\x01" + p + r)
            while fn & 1 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = sha(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    assert sn == 0, "path too short"
    return r


def public_key(vkey):
    """The Ed25519 key of a note verifier key name+id+base64(0x01 || key)."""
    blob = base64.b64decode(vkey.split("+", 2)[2])
    assert blob[0] == 1 and len(blob) == 33
    return blob[1:]


def read_checkpoint(note, pk):
    body, _, signatures = note.partition("\n\n")
    origin, size, root = body.split("\n")
    name = signatures.split(" ")[1]
    raw = base64.b64decode(signatures.strip().split(" ")[2])
    assert raw[:4] == sha(name.encode() + b"\n\x01" + pk)[:4]
    Ed25519PublicKey.from_public_bytes(pk).verify(raw[4:], (body + "\n").encode())
    return origin, int(size), base64.b64decode(root)


def read_tlog_proof(text, vkey):
    """C2SP tlog-proof@v1: header, extra, index, hashes, empty line, checkpoint."""
    head, _, note = text.partition("\n\n")
    lines = head.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1"
    assert lines[1].startswith("extra ") and lines[2].startswith("index ")
    receipt = json.loads(base64.b64decode(lines[1][6:], validate=True))
    index = int(lines[2][6:])
    assert str(index) == lines[2][6:]
    path = [base64.b64decode(line, validate=True) for line in lines[3:]]
    assert all(len(h) == 32 for h in path)
    pk = public_key(vkey)
    _, size, root = read_checkpoint(note, pk)
    assert index == receipt["seq"]
    assert root_from_path(index, size, leaf_hash(receipt), path) == root
    return receipt, size


def read_cose_receipt(data, receipt, vkey):
    sign1 = cbor2.loads(data)
    assert isinstance(sign1, cbor2.CBORTag) and sign1.tag == 18
    protected, unprotected, payload, signature = sign1.value
    assert cbor2.loads(protected) == {1: -19, 395: 1}
    assert payload is None and len(signature) == 64
    assert list(unprotected) == [396] and list(unprotected[396]) == [-1] and len(unprotected[396][-1]) == 1
    size, index, path = cbor2.loads(unprotected[396][-1][0])
    assert index == receipt["seq"]
    root = root_from_path(index, size, leaf_hash(receipt), path)
    to_sign = cbor2.dumps(["Signature1", protected, b"", root])
    Ed25519PublicKey.from_public_bytes(public_key(vkey)).verify(signature, to_sign)
    return size, root


def build_tlog_proof(receipt, path, note):
    lines = ["c2sp.org/tlog-proof@v1", "extra " + base64.b64encode(rfc8785.dumps(receipt)).decode(), f"index {receipt['seq']}"]
    return "\n".join(lines + [base64.b64encode(h).decode() for h in path]) + "\n\n" + note


def fixture():
    return json.loads(FIXTURE.read_text())


def verify_proof(tmp_path, fmt, data, vkey, receipt=None):
    proof = tmp_path / f"proof.{fmt}"
    proof.write_bytes(data)
    args = ["receipts", "verify-proof", "--format", fmt, "--proof", proof, "--log-key", vkey]
    if receipt is not None:
        (tmp_path / "receipt.json").write_text(json.dumps(receipt))
        args += ["--receipt", tmp_path / "receipt.json"]
    return attest(*args, check=False)


def test_tlog_proof_read_independently(tmp_path):
    f = fixture()
    receipt, size = read_tlog_proof(f["tlog_proof"], f["log_key"])
    assert receipt == f["receipt"] and size == 5
    assert build_tlog_proof(f["receipt"], [bytes.fromhex(h) for h in f["proof"]], f["checkpoint"]) == f["tlog_proof"]
    run = verify_proof(tmp_path, "tlog-proof", f["tlog_proof"].encode(), f["log_key"])
    assert run.returncode == 0 and run.stdout.startswith("VALID: receipt 3"), run.stdout + run.stderr
    run = verify_proof(tmp_path, "tlog-proof", f["tlog_proof"].replace("\nindex 3\n", "\nindex 2\n").encode(), f["log_key"])
    assert run.returncode != 0 and "RCP_PROOF_MALFORMED" in run.stderr, run.stderr
    evidence.observed("RCP_PROOF_MALFORMED")
    # One proof line dropped: the inclusion fails.
    head, _, note = f["tlog_proof"].partition("\n\n")
    short = "\n".join(head.split("\n")[:-1]) + "\n\n" + note
    run = verify_proof(tmp_path, "tlog-proof", short.encode(), f["log_key"])
    assert run.returncode != 0 and "MRK_INCLUSION_INVALID" in run.stderr, run.stderr


def test_cose_receipt_read_with_cbor2(tmp_path):
    f = fixture()
    data = bytes.fromhex(f["cose_receipt"])
    size, _ = read_cose_receipt(data, f["receipt"], f["log_key"])
    assert size == 5
    # The encoding is the deterministic one: cbor2's canonical re-encoding is the same bytes.
    assert cbor2.dumps(cbor2.loads(data), canonical=True) == data
    run = verify_proof(tmp_path, "cose-receipt", data, f["log_key"], f["receipt"])
    assert run.returncode == 0 and run.stdout.startswith("VALID: receipt 3"), run.stdout + run.stderr
    sign1 = cbor2.loads(data)
    protected, unprotected, payload, signature = sign1.value
    flipped = cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, payload, bytes([signature[0] ^ 1]) + signature[1:]]), canonical=True)
    run = verify_proof(tmp_path, "cose-receipt", flipped, f["log_key"], f["receipt"])
    assert run.returncode != 0 and "RCP_PROOF_SIGNATURE_INVALID" in run.stderr, run.stderr
    evidence.observed("RCP_PROOF_SIGNATURE_INVALID")
    eddsa = cbor2.dumps({1: -8, 395: 1}, canonical=True)
    relabelled = cbor2.dumps(cbor2.CBORTag(18, [eddsa, unprotected, payload, signature]), canonical=True)
    run = verify_proof(tmp_path, "cose-receipt", relabelled, f["log_key"], f["receipt"])
    assert run.returncode != 0 and "RCP_PROOF_MALFORMED" in run.stderr, run.stderr


def test_portal_prove_writes_both_formats(tmp_path):
    world = World(tmp_path)
    config = world.config()
    portal = world.stdio(config)
    try:
        portal.initialize()
        held = assert_allowed(portal.ask(world.attach(call(1, "echo", {"text": "proved"}))))
    finally:
        assert portal.stop() == 0
    store = world.root / "store"
    seq = held[1]["seq"]
    proof = json.loads(attest("portal", "prove", "--store", store, "--seq", seq).stdout)
    assert proof["receipt"] == held[1]
    path = [bytes.fromhex(h) for h in proof["proof"]]
    tlog = attest("portal", "prove", "--store", store, "--seq", seq, "--format", "tlog-proof").stdout
    assert tlog == build_tlog_proof(held[1], path, proof["checkpoint"])
    assert read_tlog_proof(tlog, world.log_verifier)[0] == held[1]
    cose = subprocess.run([attest_binary(), "portal", "prove", "--store", str(store), "--seq", str(seq), "--format", "cose-receipt",
                           "--key", str(world.root / "log.seed")], capture_output=True, timeout=60, check=True).stdout
    size, root = read_cose_receipt(cose, held[1], world.log_verifier)
    _, note_size, note_root = read_checkpoint(proof["checkpoint"], public_key(world.log_verifier))
    assert (size, root) == (note_size, note_root)
    # Byte for byte what cbor2 (deterministic) and the log key's Ed25519 signature make.
    _, sk = nacl.bindings.crypto_sign_seed_keypair(bytes.fromhex((world.root / "log.seed").read_text().strip()))
    protected = cbor2.dumps({1: -19, 395: 1}, canonical=True)
    signature = nacl.bindings.crypto_sign(cbor2.dumps(["Signature1", protected, b"", root], canonical=True), sk)[:64]
    inclusion = cbor2.dumps([size, seq, path], canonical=True)
    assert cose == cbor2.dumps(cbor2.CBORTag(18, [protected, {396: {-1: [inclusion]}}, None, signature]), canonical=True)
    run = verify_proof(tmp_path, "cose-receipt", cose, world.log_verifier, held[1])
    assert run.returncode == 0, run.stdout + run.stderr
    run = attest("portal", "prove", "--store", store, "--seq", seq, "--format", "cose-receipt", check=False)
    assert run.returncode != 0 and "--key" in run.stderr, run.stderr

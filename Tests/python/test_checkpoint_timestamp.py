"""RFC 3161 timestamps over checkpoint notes end to end (checkpoint.md §Timestamp tokens):
`attest checkpoint timestamp-request` writes the request, the real `openssl ts -reply` acts
as the timestamp authority (a CA and a P-256 authority certificate with the critical
timeStamping extended key usage, made fresh by scripts/timestamp_data.sh), and
`attest checkpoint timestamp-verify` verifies the reply in-process against the authority's
certificate: PASS over the note the request was made for, TSA_IMPRINT_MISMATCH over
another note; and `attest bundle verify --tsa-cert` bounding receipt times by a
timestamp on a checkpoint (bundle.md §Timestamp authorities)."""
import hashlib
import json
import pathlib
import shutil
import subprocess

import pytest

from evidence import assert_code
from test_bundle_report import attest

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
FIXTURES = ROOT / "Tests" / "fixtures" / "timestamp"
NOTE = ("portal.example/log/vectors\n7\nn/WEXwtkYAwFhF6beeRv8Wd9XQpixobRfQfAc6/I8iA=\n\n"
        "\u2014 portal.example/log/vectors wxnI0y801XChdsGgtpsJJNfnR4t/DQ9ZMwO2emAo/AiFfD7lyjb+mNkVihPW+c0KunDzFw62cmGP28Y9tF5u3xcUXAU=\n")


@pytest.fixture(scope="module")
def authority(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed as the local timestamp authority")
    d = tmp_path_factory.mktemp("tsa")
    subprocess.run(["bash", str(ROOT / "scripts" / "timestamp_data.sh"), str(d)], check=True, capture_output=True, timeout=60)
    return d


def stamp(authority, tmp_path, note: str):
    """A request by attest for `note`, answered by openssl ts: (note file, salt file, reply file)."""
    note_file = tmp_path / "note.txt"
    note_file.write_bytes(note.encode())
    attest("checkpoint", "timestamp-request", "--note", note_file, "--salt-out", tmp_path / "salt.bin", "--out", tmp_path / "request.tsq")
    assert len((tmp_path / "salt.bin").read_bytes()) == 32
    reply = tmp_path / "reply.tsr"
    r = subprocess.run(["openssl", "ts", "-reply", "-config", "tsa.cnf", "-queryfile", str(tmp_path / "request.tsq"), "-out", str(reply)],
                       cwd=authority, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and reply.stat().st_size > 0, r.stderr
    return note_file, tmp_path / "salt.bin", reply


def verify(authority, note_file, salt, reply):
    return attest("checkpoint", "timestamp-verify", "--note", note_file, "--salt", salt, "--token", reply,
                  "--tsa-cert", authority / "tsa.pem", ok=False)


def test_openssl_reply_verifies(authority, tmp_path):
    note_file, salt, reply = stamp(authority, tmp_path, NOTE)
    r = verify(authority, note_file, salt, reply)
    assert r.returncode == 0 and r.stdout.startswith("PASS: genTime "), (r.stdout, r.stderr)
    # The authority saw only SHA-256(salt || note): the note's own hash is not in the request.
    request = (tmp_path / "request.tsq").read_bytes()
    assert hashlib.sha256(NOTE.encode()).digest() not in request
    assert hashlib.sha256(salt.read_bytes() + NOTE.encode()).digest() in request


def test_reply_for_another_note_fails(authority, tmp_path):
    _, salt, reply = stamp(authority, tmp_path, NOTE.replace("\n7\n", "\n8\n", 1))
    note_file = tmp_path / "checkpoint.txt"
    note_file.write_bytes(NOTE.encode())
    r = verify(authority, note_file, salt, reply)
    assert r.returncode == 1, (r.stdout, r.stderr)
    code = r.stderr.split("FAIL ", 1)[1].split(":", 1)[0] if "FAIL " in r.stderr else r.stdout
    assert_code(code, "TSA_IMPRINT_MISMATCH", r.stderr)


def bundle_from_vector(vector_id, out):
    """The bundle directory of a bundle.verify vector of bundle.md §Timestamp authorities,
    from its data files, and the vector's context."""
    vectors = json.loads((ROOT / "vectors" / "bundle.json").read_text())
    vectors = vectors["vectors"] if isinstance(vectors, dict) else vectors
    vector = next(v for v in vectors if v["id"] == vector_id)
    data = ROOT / "spec" / "data" / "bundle" / vector_id
    shutil.copytree(data, out)
    origin = vector["input"]["logs"][0]["origin"]
    (out / "manifest.json").write_text(json.dumps({"format": "mcp-attest/bundle/v2", "artifacts": "artifacts.jsonl", "logs": [
        {"origin": origin, "receipts": "logs/0/receipts.jsonl", "checkpoints": "logs/0/checkpoints.jsonl",
         "payloads": "logs/0/payloads.jsonl"}]}))
    return vector["context"]


def test_bundle_verify_tsa_cert_bounds_receipt_times(tmp_path):
    context = bundle_from_vector("bnd-receipt-after-timestamp", tmp_path / "bundle")
    args = ["bundle", "verify", tmp_path / "bundle", "--authority", context["authorities"][0],
            "--log-key", context["log_keys"][0], "--now", context["now"]]
    # Without a trusted authority the timestamps are ignored.
    r = attest(*args, ok=False)
    assert r.returncode == 0 and r.stdout.startswith("PASS"), (r.stdout, r.stderr)
    r = attest(*args, "--tsa-cert", FIXTURES / "tsa-2025.pem", ok=False)
    assert r.returncode == 11, (r.stdout, r.stderr)  # the class of BND_RECEIPT_AFTER_COSIGNATURE
    assert_code(r.stdout.split()[1], "BND_RECEIPT_AFTER_COSIGNATURE", r.stdout)

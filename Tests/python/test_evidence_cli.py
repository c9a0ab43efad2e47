"""The evidence commands of the CLI as an operator and an auditor use them: seal an
artifact, derive a mandate, append receipts, checkpoint, prove one receipt, export a
bundle and verify it, then break it and see the exit class."""
import base64, hashlib, json, os, shutil, subprocess

import pytest

from conftest import ROOT

ATTEST = os.environ.get("ATTEST_BIN", str(ROOT / ".build" / "debug" / "attest"))


def run(*args, ok=True):
    r = subprocess.run([ATTEST, *args], capture_output=True, text=True, timeout=120)
    if ok:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    if not os.path.exists(ATTEST):
        pytest.fail(f"{ATTEST} is missing: run `swift build --product attest` first")
    d = tmp_path_factory.mktemp("evidence")
    for name, seed in [("log", 5), ("auth", 6), ("agent", 7)]:
        (d / f"{name}.key").write_text(f"{seed:064x}")
    return d


def thumbprint_of_seed(seed):
    import nacl.bindings, rfc8785
    pk, _ = nacl.bindings.crypto_sign_seed_keypair(bytes.fromhex(f"{seed:064x}"))
    x = base64.urlsafe_b64encode(pk).rstrip(b"=").decode()
    return base64.urlsafe_b64encode(hashlib.sha256(rfc8785.dumps({"crv": "Ed25519", "kty": "OKP", "x": x})).digest()).rstrip(b"=").decode(), pk


def test_operator_and_auditor_flow(work):
    agent_tp, _ = thumbprint_of_seed(7)
    auth_tp, _ = thumbprint_of_seed(6)
    _, log_pk = thumbprint_of_seed(5)
    origin = "portal.example/log/cli"
    artifact = {"type": "mcp-attest/artifact/v1", "id": "a-cli", "issuer": "https://policy.example",
                "subject": {"sub": "spiffe://agents.example/a", "jkt": agent_tp}, "not_before": 100, "not_after": 100000,
                "tools": {"search": {"arguments": {"q": {"type": "string", "max_length": 20}}, "required": ["q"]}},
                "log": {"origins": [origin]}}
    (work / "art.json").write_text(json.dumps(artifact))
    run("artifact", "seal", "--in", str(work / "art.json"), "--key", str(work / "auth.key"), "--out", str(work / "art.sealed.json"))
    assert "valid at 500: artifact a-cli" in run("artifact", "verify", str(work / "art.sealed.json"), "--authority", auth_tp,
                                                 "--now", "500").stdout
    bad = run("artifact", "verify", str(work / "art.sealed.json"), "--authority", "someone-else", "--now", "500", ok=False)
    assert bad.returncode != 0 and "ART_SIGNER_UNTRUSTED" in bad.stdout + bad.stderr

    mandate = dict(artifact, id="m-cli", not_after=50000, subject={"sub": "spiffe://agents.example/b", "jkt": auth_tp},
                   tools={"search": {"arguments": {"q": {"type": "string", "max_length": 10}}, "required": ["q"]}})
    (work / "man.json").write_text(json.dumps(mandate))
    run("mandate", "derive", "--parent", str(work / "art.sealed.json"), "--in", str(work / "man.json"),
        "--key", str(work / "agent.key"), "--out", str(work / "man.sealed.json"))
    wide = dict(mandate, tools={"search": {"arguments": {"q": {"type": "string", "max_length": 99}}, "required": ["q"]}})
    (work / "wide.json").write_text(json.dumps(wide))
    r = run("mandate", "derive", "--parent", str(work / "art.sealed.json"), "--in", str(work / "wide.json"),
            "--key", str(work / "agent.key"), ok=False)
    assert r.returncode != 0 and "MAN_WIDENS_CONSTRAINT" in r.stdout + r.stderr

    log = ["--dir", str(work / "log"), "--origin", origin, "--key", str(work / "log.key")]
    for i in range(5):
        run("log", "append", *log, "--artifact", str(work / "art.sealed.json"), "--time", str(200 + i), "--session", "s",
            "--request", json.dumps({"name": "search", "arguments": {"q": f"query {i}"}}),
            "--response", json.dumps({"content": []}), "--decision", "ALLOW")
    note = run("log", "checkpoint", *log).stdout
    assert note.startswith(origin + "\n5\n")

    key_id = hashlib.sha256(origin.encode() + b"\n\x01" + log_pk).digest()[:4]
    vkey = f"{origin}+{key_id.hex()}+" + base64.b64encode(b"\x01" + log_pk).decode()
    proof = json.loads(run("log", "prove", "--dir", str(work / "log"), "--origin", origin, "--seq", "3").stdout)  # no key needed
    request = json.dumps({"context": {}, "input": dict(proof, log_key=vkey)})
    r = subprocess.run([ATTEST, "impl", "receipt.inclusion"], input=request, capture_output=True, text=True)
    assert json.loads(r.stdout)["result"] == "valid", r.stdout
    # The same proof in the export formats (receipt.md §Exporting one receipt's proof).
    tlog = run("log", "prove", "--dir", str(work / "log"), "--origin", origin, "--seq", "3", "--format", "tlog-proof").stdout
    assert tlog.startswith("c2sp.org/tlog-proof@v1\nextra ") and tlog.endswith(note)
    (work / "r3.tlog-proof").write_text(tlog)
    assert run("receipts", "verify-proof", "--format", "tlog-proof", "--proof", str(work / "r3.tlog-proof"), "--log-key", vkey).stdout.startswith("VALID")
    cose = subprocess.run([ATTEST, "log", "prove", "--dir", str(work / "log"), "--origin", origin, "--seq", "3", "--format", "cose-receipt",
                           "--key", str(work / "log.key")], capture_output=True, timeout=60, check=True).stdout
    (work / "r3.cose").write_bytes(cose)
    (work / "r3.json").write_text(json.dumps(proof["receipt"]))
    assert run("receipts", "verify-proof", "--format", "cose-receipt", "--proof", str(work / "r3.cose"), "--receipt", str(work / "r3.json"),
               "--log-key", vkey).stdout.startswith("VALID")

    bundle = work / "bundle"
    run("bundle", "export", "--log", f"{origin}={work / 'log'}", "--artifact", str(work / "art.sealed.json"), "--out", str(bundle))
    (work / "held.jsonl").write_text(json.dumps(proof["receipt"]) + "\n")
    audit = run("receipts", "audit", "--receipts", str(work / "held.jsonl"), "--log-key", vkey, "--bundle", str(bundle)).stdout
    assert audit.startswith("PASS: 1 held receipt(s)"), audit
    verify = ["bundle", "verify", str(bundle), "--authority", auth_tp, "--log-key", vkey, "--now", "1000"]
    report = work / "report.json"
    out = run(*verify, "--report", str(report)).stdout
    assert out.startswith("PASS: 5 receipts")
    assert json.loads(report.read_text())["verdict"] == "PASS"

    # Auditor-side failures and their exit classes.
    receipts = bundle / "logs" / "0" / "receipts.jsonl"
    original = receipts.read_text()
    lines = original.splitlines()
    receipts.write_text("\n".join(lines[:2] + lines[3:]) + "\n")
    r = run(*verify, ok=False)
    assert r.returncode == 12 and r.stdout.startswith("FAIL RCP_SEQUENCE_GAP") and "seq 3" in r.stdout
    # A receipt edited in place: its line carries no signature, the next receipt's prev names
    # the original link (bundle.md §Receipts without signatures).
    tampered = json.loads(lines[1]); tampered["time"] = 250
    receipts.write_text("\n".join([lines[0], json.dumps(tampered)] + lines[2:]) + "\n")
    r = run(*verify, ok=False)
    assert r.returncode == 12 and r.stdout.startswith("FAIL RCP_CHAIN_BROKEN") and "seq 2" in r.stdout
    receipts.write_text(original)
    payloads = bundle / "logs" / "0" / "payloads.jsonl"
    p = payloads.read_text().splitlines()
    swapped = json.loads(p[0]); swapped["request"]["arguments"]["q"] = "other"
    payloads.write_text("\n".join([json.dumps(swapped)] + p[1:]) + "\n")
    r = run(*verify, ok=False)
    assert r.returncode == 15 and r.stdout.startswith("FAIL RCP_COMMITMENT_MISMATCH")
    r = run("bundle", "verify", str(bundle), "--authority", auth_tp, "--log-key", vkey, "--now", "1000", ok=False)
    assert r.returncode == 15

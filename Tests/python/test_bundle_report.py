"""What `attest bundle verify` states, on PASS and FAIL alike: the logs and their verified
checkpoints, the time range, the decisions counted, the checks that ran and those skipped
(and why), the trust inputs, the versions, and a digest of the bundle an auditor can
recompute with sha256sum; `--json` and `--report -` write the same report to stdout."""
import hashlib
import json
import shutil
import subprocess

import pytest

from test_mcp_peers import attest_binary


def attest(*args, ok=True):
    r = subprocess.run([attest_binary(), *map(str, args)], capture_output=True, text=True, timeout=300)
    if ok:
        assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return r


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    out = attest("bundle", "demo", "--receipts", 500, "--checkpoint-every", 100, "--out", d / "bundle").stdout
    command = next(line for line in out.splitlines() if line.strip().startswith("attest bundle verify"))
    words = command.split()
    authority = words[words.index("--authority") + 1]
    log_key = command.split("--log-key '")[1].split("'")[0]
    now = int(words[words.index("--now") + 1])
    return {"dir": d, "bundle": d / "bundle", "authority": authority, "log_key": log_key, "now": now}


def verify(demo, bundle=None, *extra, ok=True):
    return attest("bundle", "verify", bundle or demo["bundle"], "--authority", demo["authority"], "--log-key", demo["log_key"],
                  "--now", demo["now"], *extra, ok=ok)


def sha256sum_digest(bundle):
    manifest = json.loads((bundle / "manifest.json").read_text())
    paths = ["manifest.json", manifest["artifacts"]]
    for log in manifest["logs"]:
        paths += [log["checkpoints"], log["receipts"]] + ([log["payloads"]] if "payloads" in log else [])
    listing = "".join(f"{hashlib.sha256((bundle / p).read_bytes()).hexdigest()}  {p}\n" for p in paths)
    return "sha256:" + hashlib.sha256(listing.encode()).hexdigest(), paths


def receipts_of(bundle):
    return [json.loads(line) for line in (bundle / "logs/0/receipts.jsonl").read_text().splitlines() if line.strip()]


def test_pass_report_states_its_scope(demo):
    r = verify(demo)
    text = r.stdout
    receipts = receipts_of(demo["bundle"])
    allows = sum(1 for x in receipts if x["decision"] == "ALLOW")
    denies = sum(1 for x in receipts if x["decision"] == "DENY")
    assert text.startswith(f"PASS: {len(receipts)} receipts"), text
    assert f"{allows} ALLOW decisions re-evaluated" in text.splitlines()[0], text
    digest, paths = sha256sum_digest(demo["bundle"])
    assert f"digest  {digest}" in text
    for p in paths:
        assert p in text
    origin = receipts[0]["log"]
    assert f"log       {origin}" in text and f"{len(receipts)} receipts verified" in text
    assert f"time {receipts[0]['time']} to {receipts[-1]['time']}" in text
    assert f"{allows} ALLOW, {denies} DENY, 0 PHANTOM, 0 RESULT" in text
    assert "checkpoints 5 verified" in text and "size 500 root " in text
    assert f"policy authority key {demo['authority']}" in text and f"verification time {demo['now']}" in text
    assert "log key " + origin in text
    assert "tool      attest " in text and "specification" in text
    assert "pass  " + origin + ": ALLOW decisions re-evaluated against the artifact (" + str(allows) + ")" in text


def test_json_report_is_the_same_report(demo, tmp_path):
    r = verify(demo, None, "--json")
    report = json.loads(r.stdout)
    assert r.stderr.startswith("PASS: ")
    same = json.loads(verify(demo, None, "--report", "-").stdout)
    for volatile in ("seconds",):
        report.pop(volatile), same.pop(volatile)
    assert report == same
    file_report = tmp_path / "r.json"
    verify(demo, None, "--report", file_report)
    written = json.loads(file_report.read_text())
    written.pop("seconds")
    assert written == report
    receipts = receipts_of(demo["bundle"])
    log = report["logs"][0]
    assert report["verdict"] == "PASS" and report["receipts"] == len(receipts)
    assert log["decisions"]["ALLOW"] == sum(1 for x in receipts if x["decision"] == "ALLOW")
    assert log["allow_calls_reevaluated"] == log["decisions"]["ALLOW"]
    assert [c["size"] for c in log["checkpoints"]] == [100, 200, 300, 400, 500]
    assert log["time"] == {"first": receipts[0]["time"], "last": receipts[-1]["time"]}
    assert report["bundle"]["digest"] == sha256sum_digest(demo["bundle"])[0]
    assert report["trust"]["now"] == demo["now"] and report["trust"]["authorities"] == [demo["authority"]]
    assert report["trust"]["log_keys"][0]["verifier_key"] == demo["log_key"]
    assert report["tool"]["name"] == "attest" and report["specification"]["bundle_format"] == "mcp-attest/bundle/v2"


def test_skipped_checks_say_why(demo, tmp_path):
    bundle = tmp_path / "no-payloads"
    shutil.copytree(demo["bundle"], bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    del manifest["logs"][0]["payloads"]
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    r = verify(demo, bundle, "--json")
    report = json.loads(r.stdout)
    allows = report["logs"][0]["decisions"]["ALLOW"]
    assert report["logs"][0]["allow_calls_with_arguments"] == 0
    assert report["skipped"] and f"{allows} ALLOW receipts" in report["skipped"][0]["reason"]
    assert "argument constraints" in verify(demo, bundle).stdout


def test_fail_report_counts_what_it_read(demo, tmp_path):
    bundle = tmp_path / "broken"
    shutil.copytree(demo["bundle"], bundle)
    path = bundle / "logs/0/receipts.jsonl"
    lines = path.read_text().splitlines()
    tampered = json.loads(lines[250])
    tampered["time"] += 1
    lines[250] = json.dumps(tampered)
    path.write_text("\n".join(lines) + "\n")
    # Receipt 250 edited in place: receipt 251's prev no longer names it, so 251 receipts pass.
    r = verify(demo, bundle, ok=False)
    assert r.returncode == 12 and r.stdout.startswith("FAIL RCP_CHAIN_BROKEN") and "seq 251" in r.stdout
    assert "251 receipts verified" in r.stdout, r.stdout
    assert "digest  " + sha256sum_digest(bundle)[0] in r.stdout
    assert "checkpoints 5 verified" in r.stdout
    report = json.loads(verify(demo, bundle, "--json", ok=False).stdout)
    assert report["verdict"] == "FAIL" and report["receipts"] == 251 and report["logs"][0]["receipts"] == 251
    assert report["failure"]["code"] == "RCP_CHAIN_BROKEN" and report["failure"]["seq"] == 251
    assert sum(report["logs"][0]["decisions"].values()) == 251


def test_progress_stays_quiet_when_not_a_terminal(demo):
    r = verify(demo)
    assert "\r" not in r.stderr and "\x1b" not in r.stderr and "\r" not in r.stdout


def test_progress_on_a_terminal(tmp_path):
    """On a terminal: receipts done of the total, the rate and the time left, redrawn in
    place and erased before the report."""
    import os, pty
    out = attest("bundle", "demo", "--receipts", 30000, "--checkpoint-every", 10000, "--out", tmp_path / "b").stdout
    command = next(line for line in out.splitlines() if line.strip().startswith("attest bundle verify"))
    words = command.split()
    primary, secondary = pty.openpty()
    p = subprocess.Popen([attest_binary(), "bundle", "verify", tmp_path / "b", "--authority", words[words.index("--authority") + 1],
                          "--log-key", command.split("--log-key '")[1].split("'")[0], "--now", words[words.index("--now") + 1]],
                         stdout=secondary, stderr=secondary, stdin=subprocess.DEVNULL)
    os.close(secondary)
    seen = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(primary)
    assert p.wait(timeout=300) == 0
    text = seen.decode()
    frames = [f for f in text.split("\r") if " of 30,000 receipts, " in f]
    assert frames and "/s" in frames[0], text[:2000]
    assert "PASS: 30000 receipts" in text


def test_fail_report_names_an_untrusted_log(demo, tmp_path):
    (tmp_path / "k").write_text("42" * 32)
    other = json.loads(attest("key", "show", "--key", tmp_path / "k", "--origin", "other.example/log").stdout)["note_verifier"]
    r = attest("bundle", "verify", demo["bundle"], "--authority", demo["authority"], "--log-key", other, "--now", demo["now"],
               ok=False)
    assert r.returncode == 11 and r.stdout.startswith("FAIL BND_LOG_UNTRUSTED"), (r.returncode, r.stdout, r.stderr)
    assert "log       portal.example/log/0 (no trusted key given): 0 receipts verified" in r.stdout

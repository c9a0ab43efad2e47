"""Commands refuse what a verifier would later reject, each case beside a positive
control that differs from it by the one defect: log append (a DENY without its code, a
time before the previous receipt, another origin or key on an existing log), log
checkpoint on a directory without a log, log prove without a private key, token issue of
claims that are not a token, artifact verify at a time outside the validity window,
mcp attach of a garbage token or an unknown era; a failed export leaves nothing behind."""
import json
import os
import subprocess

import pytest

from test_mcp_peers import attest_binary

ORIGIN = "portal.example/log/refusals"


def attest(*args, ok=True, cwd=None, input=None):
    r = subprocess.run([attest_binary(), *map(str, args)], capture_output=True, text=True, timeout=120, cwd=cwd, input=input)
    if ok:
        assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return r


def refused(r, code, *words):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    first = r.stderr.strip().splitlines()[0]
    assert first.startswith("Error: "), r.stderr
    for w in words:
        assert w in first, (w, first)
    assert "USAGE" not in r.stderr or code == 64


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("refusals")
    for name, seed in [("log", 5), ("auth", 6), ("agent", 7), ("other", 8)]:
        (d / f"{name}.key").write_text(f"{seed:064x}")

    def show(name, origin=None):
        args = ["key", "show", "--key", d / f"{name}.key"] + (["--origin", origin] if origin else [])
        return json.loads(attest(*args).stdout)

    agent = show("agent")
    artifact = {"type": "mcp-attest/artifact/v1", "id": "a-ref", "issuer": "https://policy.example",
                "subject": {"sub": "spiffe://agents.example/a", "jkt": agent["thumbprint"]}, "not_before": 100,
                "not_after": 100000, "tools": {"search": {"arguments": {"q": {"type": "string"}}, "required": ["q"]}},
                "log": {"origins": [ORIGIN]}}
    (d / "art.json").write_text(json.dumps(artifact))
    attest("artifact", "seal", "--in", d / "art.json", "--key", d / "auth.key", "--out", d / "art.sealed.json")
    (d / "art2.json").write_text(json.dumps(dict(artifact, id="a-two-logs", log={"origins": [ORIGIN, "elsewhere.example/log"]})))
    attest("artifact", "seal", "--in", d / "art2.json", "--key", d / "auth.key", "--out", d / "art2.sealed.json")
    return {"dir": d, "auth": show("auth")["thumbprint"], "agent": agent, "vkey": show("log", ORIGIN)["note_verifier"]}


def append(w, log_dir, *extra, ok=True, origin=ORIGIN, key="log.key", time=200, decision="ALLOW", response=None, request=None,
           artifact="art.sealed.json"):
    d = w["dir"]
    return attest("log", "append", "--dir", log_dir, "--origin", origin, "--key", d / key, "--artifact", d / artifact,
                  "--time", time, "--session", "s", "--request", json.dumps(request or {"name": "search", "arguments": {"q": "x"}}),
                  "--response", json.dumps(response if response is not None else {"content": []}), "--decision", decision,
                  *extra, ok=ok)


def test_log_append_refusals(world):
    d = world["dir"]
    log = d / "log-append"
    assert append(world, log, time=200).stdout.startswith("appended seq 0")
    # Time: equal is fine, earlier is refused.
    assert append(world, log, time=200).stdout.startswith("appended seq 1")
    refused(append(world, log, time=199, ok=False), 1, "RCP_TIME_REGRESSION")
    # Another origin, another key on the same directory.
    refused(append(world, log, origin="elsewhere.example/log", artifact="art2.sealed.json", time=300, ok=False), 1,
            "RCP_LOG_MISMATCH")
    refused(append(world, log, key="other.key", time=300, ok=False), 1, "RCP_KEY_UNTRUSTED")
    # A DENY names its code; its response is the denial carrying it; an ALLOW carries none.
    denial = {"code": -31000, "message": "PTL_TOOL_NOT_ALLOWED: no", "data": {"code": "PTL_TOOL_NOT_ALLOWED",
                                                                              "extension": "dev.agent-attestation"}}
    refused(append(world, log, decision="DENY", response=denial, time=300, ok=False), 64, "--code")
    refused(append(world, log, "--code", "PTL_TOOL_NOT_ALLOWED", decision="DENY", time=300, ok=False), 64, "--response")
    refused(append(world, log, "--code", "PTL_TOOL_NOT_ALLOWED", time=300, ok=False), 64, "--code")
    refused(append(world, log, "--code", "NOT_A_CODE", decision="DENY", response=denial, time=300, ok=False), 64, "--code")
    # An ALLOW the artifact forbids, a log the artifact does not name.
    refused(append(world, log, request={"name": "delete", "arguments": {}}, time=300, ok=False), 1,
            "PTL_TOOL_NOT_ALLOWED")
    refused(append(world, log, request={"name": "search", "arguments": {"q": 7}}, time=300, ok=False), 1,
            "PTL_CONSTRAINT_VIOLATED")
    refused(append(world, log, time=100000, ok=False), 1, "PTL_OUTSIDE_VALIDITY")
    refused(append(world, d / "other-log", origin="elsewhere.example/log", time=300, ok=False), 1, "RCP_LOG_NOT_IN_ARTIFACT")
    # Nothing refused was written: three receipts after the positive control.
    ok = append(world, log, "--code", "PTL_TOOL_NOT_ALLOWED", decision="DENY", response=denial, time=300)
    assert ok.stdout.startswith("appended seq 2"), ok.stdout
    assert len((log / "receipts.jsonl").read_text().splitlines()) == 3


def test_log_checkpoint_and_prove(world):
    d = world["dir"]
    empty = d / "not-a-log"
    empty.mkdir()
    base = ["--origin", ORIGIN, "--key", d / "log.key"]
    refused(attest("log", "checkpoint", "--dir", empty, *base, ok=False), 1, "holds no log")
    assert not (empty / "receipts.jsonl").exists()
    refused(attest("log", "checkpoint", "--dir", d / "missing", *base, ok=False), 74, "cannot read")
    assert not (d / "missing").exists()
    log = d / "log-prove"
    for t in (200, 201, 202):
        append(world, log, time=t)
    note = attest("log", "checkpoint", "--dir", log, *base).stdout
    assert note.startswith(ORIGIN + "\n3\n")
    # Prove needs no key, and its output verifies with the public key only.
    proof = json.loads(attest("log", "prove", "--dir", log, "--origin", ORIGIN, "--seq", 2).stdout)
    request = json.dumps({"context": {}, "input": dict(proof, log_key=world["vkey"])})
    assert json.loads(attest("impl", "receipt.inclusion", input=request).stdout)["result"] == "valid"
    refused(attest("log", "prove", "--dir", log, "--origin", ORIGIN, "--seq", 3, ok=False), 64, "--seq")
    refused(attest("log", "prove", "--dir", log, "--origin", "elsewhere.example/log", "--seq", 0, ok=False), 64, "--origin")
    # The only key prove takes is for signing a COSE Receipt; the proofs above needed none.
    help_text = attest("log", "prove", "--help").stdout
    assert "--key <key>             With --format cose-receipt" in help_text, help_text


def test_token_issue_refuses_claims_that_are_not_a_token(world):
    d = world["dir"]
    claims = {"iss": "https://provider.example", "sub": "spiffe://agents.example/a", "aud": "https://server.example",
              "iat": 100, "exp": 700, "jti": "t-1", "cnf": {"jkt": world["agent"]["thumbprint"]},
              "agent": {"provider": "P", "model_family": "m", "model_version": "1", "deployment": "d",
                        "operator": "https://operator.example"}}
    (d / "claims.json").write_text(json.dumps(claims))
    token = attest("token", "issue", "--key", d / "auth.key", "--claims", d / "claims.json").stdout.strip()
    assert token.count(".") == 2
    (d / "token.jwt").write_text(token)
    bad = dict(claims)
    del bad["exp"]
    (d / "bad-claims.json").write_text(json.dumps(bad))
    refused(attest("token", "issue", "--key", d / "auth.key", "--claims", d / "bad-claims.json", ok=False), 1,
            "not the claims of a token", "TOK_CLAIM_MISSING")
    (d / "list.json").write_text("[1]")
    refused(attest("token", "issue", "--key", d / "auth.key", "--claims", d / "list.json", ok=False), 1, "not a JSON object")

    # mcp attach: the positive control, then a garbage token, another key, an unknown era.
    request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "search", "arguments": {}}})
    (d / "req.json").write_text(request)
    attach = ["mcp", "attach", "--request", d / "req.json", "--audience", "https://server.example", "--now", 200]
    out = json.loads(attest(*attach, "--token", d / "token.jwt", "--key", d / "agent.key", "--era", "2025-11-25").stdout)
    assert "_meta" in out["params"]
    (d / "garbage.jwt").write_text("not.a.token")
    refused(attest(*attach, "--token", d / "garbage.jwt", "--key", d / "agent.key", "--era", "2025-11-25", ok=False), 1,
            "not an attestation token")
    refused(attest(*attach, "--token", d / "token.jwt", "--key", d / "other.key", "--era", "2025-11-25", ok=False), 1,
            "another key")
    refused(attest(*attach, "--token", d / "token.jwt", "--key", d / "agent.key", "--era", "2025-13-45", ok=False), 64, "--era")


def test_artifact_verify_needs_a_time_inside_the_window(world):
    d = world["dir"]
    base = ["artifact", "verify", d / "art.sealed.json", "--authority", world["auth"]]
    assert "valid at 500" in attest(*base, "--now", 500).stdout
    refused(attest(*base, "--now", 100000, ok=False), 1, "PTL_OUTSIDE_VALIDITY")
    refused(attest(*base, "--now", 99, ok=False), 1, "PTL_OUTSIDE_VALIDITY")
    r = attest(*base, ok=False)
    assert r.returncode == 64 and "--now" in r.stderr


def test_failed_exports_leave_no_partial_output(world):
    d = world["dir"]
    log = d / "log-export"
    append(world, log, time=200)
    attest("log", "checkpoint", "--dir", log, "--origin", ORIGIN, "--key", d / "log.key")
    good = d / "bundle-good"
    attest("bundle", "export", "--log", f"{ORIGIN}={log}", "--artifact", d / "art.sealed.json", "--out", good)
    assert (good / "manifest.json").exists()
    # An artifact that cannot be read: nothing is written, not even the directory.
    bad = d / "bundle-bad"
    refused(attest("bundle", "export", "--log", f"{ORIGIN}={log}", "--artifact", d / "missing.json", "--out", bad, ok=False),
            74, "cannot read")
    assert not bad.exists() and not [p for p in d.iterdir() if ".partial-" in p.name]
    # An existing output is never overwritten.
    refused(attest("bundle", "export", "--log", f"{ORIGIN}={log}", "--artifact", d / "art.sealed.json", "--out", good,
                   ok=False), 64, "exists")
    # A file output: a failed seal leaves the previous file untouched.
    (d / "sealed-out.json").write_text("previous")
    (d / "not-an-artifact.json").write_text('{"type": "x"}')
    r = attest("artifact", "seal", "--in", d / "not-an-artifact.json", "--key", d / "auth.key", "--out",
               d / "sealed-out.json", ok=False)
    assert r.returncode == 1 and (d / "sealed-out.json").read_text() == "previous"

"""Operating a portal from the command line (spec/portal.md §Operations): a backup of a
store, closing its log, rotating to a successor log under a new key, purging payloads,
exporting both logs as one bundle (verified with both keys, refused with one), retiring
the exported log, and restoring the backup."""
import json

from portal_fixture import AGENT, ORIGIN, SUB, World, attest, receipts_of

ORIGIN2 = "portal.example/log/1"


def one_call(world, config, text):
    portal = world.stdio(config)
    try:
        portal.initialize()
        reply = portal.ask(world.attach({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                         "params": {"name": "echo", "arguments": {"text": text}}}))
        assert [r["decision"] for r in receipts_of(reply)] == ["ALLOW", "RESULT"], reply
    finally:
        assert portal.stop() == 0


def test_rotate_prune_export_and_restore(tmp_path):
    world = World(tmp_path)
    root = world.root
    artifact = world.seal("both-logs", world.unsigned(SUB, AGENT, log={"origins": [ORIGIN, ORIGIN2]}))
    old = world.config("a.json", artifacts=[artifact], store="store-a")
    one_call(world, old, "first log")

    assert "2 receipts" in attest("portal", "backup", "--store", root / "store-a", "--out", root / "a.backup").stdout
    closed = attest("portal", "close", "--config", old).stdout
    assert f"closed log {ORIGIN} at size 2" in closed, closed
    note = closed.split("to publish:\n", 1)[1]
    assert note.splitlines()[:2] == [ORIGIN, "2"] and f"\u2014 {ORIGIN} " in note, note
    # Closing a closed log reports it; a portal refuses to start on it.
    assert "at size 2" in attest("portal", "close", "--config", old).stdout
    refused = world.stdio(old)
    assert refused.proc.wait(timeout=60) != 0 and "closed" in refused.stderr_text(), refused.stderr_text()
    refused.kill()

    attest("key", "generate", "--out", root / "log2.seed")
    key2 = json.loads(attest("key", "show", "--key", root / "log2.seed", "--origin", ORIGIN2).stdout)["note_verifier"]
    new = world.config("b.json", artifacts=[artifact], store="store-b", log={"origin": ORIGIN2, "key": "log2.seed"})
    same_key = world.config("b-same-key.json", artifacts=[artifact], store="store-c", log={"origin": ORIGIN2, "key": "log.seed"})
    again = attest("portal", "rotate", "--from", root / "store-a", "--config", same_key, check=False)
    assert again.returncode == 1 and "a key of its own" in again.stderr, again.stderr
    rotated = attest("portal", "rotate", "--from", root / "store-a", "--config", new).stdout
    assert f"started log {ORIGIN2}" in rotated and f"succeeding {ORIGIN}" in rotated and "1 allowed calls carried" in rotated, rotated
    one_call(world, new, "second log")
    assert "deleted 1 payloads" in attest("portal", "prune", "--store", root / "store-b", "--payloads-through", 0).stdout
    assert "deleted 0 payloads" in attest("portal", "prune", "--store", root / "store-b", "--payloads-before", 1).stdout
    for args in ([], ["--payloads-before", 1, "--log", ORIGIN2]):
        usage = attest("portal", "prune", "--store", root / "store-b", *args, check=False)
        assert usage.returncode == 64 and "--payloads-before or --payloads-through, or --log" in usage.stderr, usage.stderr

    # Retiring a log needs an export of the whole closed log.
    early = attest("portal", "prune", "--store", root / "store-a", "--log", ORIGIN, check=False)
    assert early.returncode == 1 and "no export" in early.stderr, early.stderr
    out = root / "bundle"
    exported = attest("bundle", "export", "--store", root / "store-a", "--store", root / "store-b",
                      "--config", old, "--config", new, "--out", out).stdout
    assert "wrote bundle" in exported and exported.count("--log-key") == 2, exported
    assert len((out / "artifacts.jsonl").read_text().splitlines()) == 1
    both = attest("bundle", "verify", out, f"--authority={world.authority}", f"--log-key={world.log_verifier}",
                  f"--log-key={key2}", "--now", world.now + 60, "--json")
    report = json.loads(both.stdout)
    assert report["verdict"] == "PASS", report
    assert [log["payloads_disclosed"] for log in report["logs"]] == [2, 1], report["logs"]
    one = attest("bundle", "verify", out, f"--authority={world.authority}", f"--log-key={world.log_verifier}",
                 "--now", world.now + 60, check=False)
    assert one.returncode == 11 and one.stdout.startswith("FAIL BND_LOG_UNTRUSTED"), (one.returncode, one.stdout)

    status = json.loads(attest("portal", "status", "--store", root / "store-a").stdout)
    assert status["origin"] == ORIGIN and status["closed_size"] == 2 and status["receipts"] == 2, status
    assert [e["size"] for e in status["exports"]] == [2] and status["exports"][0]["bundle"] == str(out), status
    status = json.loads(attest("portal", "status", "--store", root / "store-b").stdout)
    assert status["predecessor"] == ORIGIN and status["closed_size"] is None and status["checkpoint_size"] == 2, status
    open_log = attest("portal", "prune", "--store", root / "store-b", "--log", ORIGIN2, check=False)
    assert open_log.returncode == 1 and "not closed" in open_log.stderr, open_log.stderr
    retired = attest("portal", "prune", "--store", root / "store-a", "--log", ORIGIN).stdout
    assert f"deleted log {ORIGIN}" in retired and str(out) in retired, retired
    assert not (root / "store-a" / "portal.sqlite").exists()

    restored = attest("portal", "restore", "--backup", root / "a.backup", "--store", root / "restored").stdout
    assert f"restored log {ORIGIN} at size 2" in restored, restored


"""The agent holds evidence of its own calls: a receipt it received in `_meta` has an
inclusion proof in the portal's newest checkpoint (`attest portal prove`), which the
`receipt.inclusion` op accepts with the log key alone; the same proof with another receipt
does not verify."""
import json, subprocess

from portal_fixture import World, attest, attest_binary, receipts_of


def inclusion(world, proof):
    request = {"context": {}, "input": dict(proof, log_key=world.log_verifier)}
    run = subprocess.run([attest_binary(), "impl", "receipt.inclusion"], input=json.dumps(request),
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_a_receipt_the_client_holds_is_provably_in_the_log(tmp_path):
    world = World(tmp_path)
    config = world.config()
    portal = world.stdio(config)
    try:
        portal.initialize()
        reply = portal.ask(world.attach({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                         "params": {"name": "echo", "arguments": {"text": "keep this"}}}))
        held = receipts_of(reply)
        assert [r["decision"] for r in held] == ["ALLOW", "RESULT"]
    finally:
        assert portal.stop() == 0
    store = json.loads(config.read_text())["store"]
    for receipt in held:
        proof = json.loads(attest("portal", "prove", "--store", world.root / store, "--seq", receipt["seq"]).stdout)
        assert proof["receipt"] == receipt
        verdict = inclusion(world, proof)
        assert verdict["result"] == "valid" and verdict["output"]["tree_size"] == 2, verdict
    # The proof of one receipt does not prove the other (positive control above).
    proof = json.loads(attest("portal", "prove", "--store", world.root / store, "--seq", held[0]["seq"]).stdout)
    verdict = inclusion(world, dict(proof, receipt=held[1]))
    assert verdict["result"] == "invalid" and verdict["error"] == "MRK_INCLUSION_INVALID", verdict

"""The operator's lifecycle controls against a running portal process (spec/portal.md
§Revocation, §Shadow mode, §Policy reload): `attest portal revoke` takes effect on the
next call, an expired artifact is renewed by SIGHUP without a restart, `--shadow` forwards
what the policy denies; each exported bundle verifies, with its revocations and shadow
calls counted."""
import json, signal, time

from portal_fixture import AGENT, AGENT2, LEGACY, SUB, SUB2, World, assert_allowed, assert_rejected, attest, call, code_of


def ask(portal, world, id_, tool, arguments, agent=AGENT, sub=SUB):
    return portal.ask(world.attach(call(id_, tool, arguments), agent=agent, sub=sub))


def test_revoke_then_renew_without_restart(tmp_path):
    world = World(tmp_path)
    config = world.config()
    portal = world.stdio(config)
    try:
        portal.initialize()
        assert_allowed(ask(portal, world, 1, "echo", {"text": "before"}))
        run = attest("portal", "revoke", "--digest", world.digest, "--store", world.root / "store")
        assert run.stdout.startswith(f"REVOKED {world.digest}"), run.stdout
        assert_rejected(ask(portal, world, 2, "echo", {"text": "after"}), "PTL_ARTIFACT_REVOKED", receipts=1)
        # The second agent's artifact has expired: denied and receipted, until it is renewed.
        assert_rejected(ask(portal, world, 3, "echo", {"text": "late"}, AGENT2, SUB2), "PTL_OUTSIDE_VALIDITY", receipts=1)
        renewed = world.seal("agent2-renewed", world.unsigned(SUB2, AGENT2))
        world.config(artifacts=[world.artifact, renewed])  # the same file, rewritten
        portal.proc.send_signal(signal.SIGHUP)
        deadline, reply = time.monotonic() + 20, None
        while time.monotonic() < deadline:
            reply = ask(portal, world, f"renewed-{time.monotonic_ns()}", "echo", {"text": "renewed"}, AGENT2, SUB2)
            if "result" in reply:
                break
            assert code_of(reply) == "PTL_OUTSIDE_VALIDITY", reply
            time.sleep(0.2)
        assert_allowed(reply)
        # The revocation still holds after the reload.
        assert_rejected(ask(portal, world, 4, "echo", {"text": "still"}), "PTL_ARTIFACT_REVOKED", receipts=1)
    finally:
        assert portal.stop() == 0
    assert "policy reloaded" in portal.stderr_path.read_text()
    receipts, report = world.export(config)
    decisions = [r["decision"] for r in receipts]
    assert decisions.count("REVOKE") == 1 and decisions.index("REVOKE") < decisions.index("DENY"), decisions
    assert report["revocations"] == 1, report
    artifacts = (world.root / "bundle" / "artifacts.jsonl").read_text().splitlines()
    assert len([a for a in artifacts if a.strip()]) == 3, "the two configured first, and the renewed one"


def test_refused_revoke_arguments(tmp_path):
    world = World(tmp_path)
    run = attest("portal", "revoke", "--digest", "not-a-digest", "--store", world.root, check=False)
    assert run.returncode != 0 and "--digest" in run.stderr, run.stderr
    run = attest("portal", "revoke", "--digest", world.digest, "--store", world.root, check=False)
    assert run.returncode != 0 and "not a portal store" in run.stderr, run.stderr
    # A digest may start with "-" (base64url): it is still read as the value of --digest.
    run = attest("portal", "revoke", "--digest", "-" + "A" * 42, "--store", world.root, check=False)
    assert run.returncode != 0 and "not a portal store" in run.stderr, run.stderr
    run = attest("portal", "revoke", "--digest", world.digest, check=False)
    assert run.returncode != 0 and "--store or --shared-state" in run.stderr, run.stderr


def test_shadow_mode_over_stdio(tmp_path):
    world = World(tmp_path)
    config = world.config()
    portal = world.stdio(config, extra_args=("--shadow",))
    try:
        portal.initialize()
        assert_allowed(ask(portal, world, 1, "echo", {"text": "allowed"}))
        shadow = assert_allowed(ask(portal, world, 2, "echo", {"text": "x" * 40}))
        assert shadow[0]["shadow"] == "PTL_CONSTRAINT_VIOLATED", shadow
        unattested = portal.ask(call(3, "echo", {"text": "no token"}))
        assert code_of(unattested) == "PRF_TOKEN_MISSING", unattested
    finally:
        assert portal.stop() == 0
    assert len(world.upstream_calls()) == 2
    receipts, report = world.export(config)
    assert report["shadow_calls"] == 1 and report["logs"][0]["shadow_calls"] == 1, report
    assert report["logs"][0]["decisions"]["ALLOW"] == 1, report
    text = attest("bundle", "verify", world.root / "bundle", f"--authority={world.authority}", f"--log-key={world.log_verifier}",
                  "--now", int(time.time())).stdout
    assert text.startswith("PASS") and "1 calls forwarded in shadow mode" in text, text


def test_token_expiry_per_request_over_http(tmp_path):
    """An expired token fails its own request (401, TOK_EXPIRED); a fresh token on the next
    request of the same Streamable HTTP session is accepted, with no new session."""
    world = World(tmp_path)
    config = world.config()
    portal = world.http(config)
    legacy = {"MCP-Protocol-Version": LEGACY}
    try:
        session, _ = portal.open_session()
        expired = world.token(iat=int(time.time()) - 1200, lifetime=600)
        status, _, body = portal.post(world.attach(call(1, "echo", {"text": "stale"}), token=expired), legacy, session=session)
        assert status == 401 and code_of(body) == "TOK_EXPIRED", (status, body)
        status, _, body = portal.post(world.attach(call(2, "echo", {"text": "fresh"})), legacy, session=session)
        assert status == 200, (status, body)
        assert_allowed(body)
    finally:
        assert portal.stop() == 0
    receipts, _ = world.export(config)
    assert [r["decision"] for r in receipts] == ["ALLOW", "RESULT"]


def test_revoke_through_the_shared_state_of_two_replicas(tmp_path):
    """Two portal processes on one shared state (an SQLite file): a revocation recorded there
    by `attest portal revoke --shared-state` is in force at both from their next call."""
    world = World(tmp_path)
    shared = world.root / "shared.sqlite"
    configs = [world.config(f"replica-{i}.json", store=f"store-{i}", shared_state=str(shared)) for i in range(2)]
    portals = [world.stdio(c) for c in configs]
    try:
        for i, portal in enumerate(portals):
            portal.initialize()
            assert_allowed(ask(portal, world, 1, "echo", {"text": f"replica {i}"}))
        attest("portal", "revoke", "--digest", world.digest, "--shared-state", shared)
        for i, portal in enumerate(portals):
            assert_rejected(ask(portal, world, 2, "echo", {"text": f"replica {i}"}), "PTL_ARTIFACT_REVOKED", receipts=1)
    finally:
        for portal in portals:
            assert portal.stop() == 0
    for i, config in enumerate(configs):
        receipts, report = world.export(config, name=f"bundle-{i}")
        assert [r["decision"] for r in receipts] == ["ALLOW", "RESULT", "REVOKE", "DENY"], receipts
        assert report["revocations"] == 1

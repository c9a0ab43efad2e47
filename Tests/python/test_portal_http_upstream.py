"""`attest portal http --upstream URL`: the upstream is an MCP Python SDK server on
Streamable HTTP (both eras), reached by URL; the MCP Python SDK client goes through the
portal. Allowed calls are answered as the server answers them, a denied one never reaches
it, and the exported log verifies. A plain-http upstream has no identity to measure, so
the ALLOWs record none and an artifact that pins an upstream denies (PTL_UPSTREAM_DRIFT)."""
import json, os, socket, subprocess, sys, time

import anyio
import pytest

import evidence
from portal_fixture import AGENT, SUB, UPSTREAM, World, call, check_log, http_transport, shape
from test_portal_peers import Attaching, session


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def upstream_url(tmp_path):
    port = free_port()
    world_env = dict(os.environ, PORTAL_UPSTREAM_HTTP_PORT=str(port), PORTAL_UPSTREAM_LOG=str(tmp_path / "http-upstream-calls.jsonl"))
    proc = subprocess.Popen([sys.executable, str(UPSTREAM)], env=world_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("the HTTP upstream did not start", pytrace=False)
    yield f"http://127.0.0.1:{port}/mcp", world_env["PORTAL_UPSTREAM_LOG"]
    proc.terminate()
    proc.wait(timeout=30)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_sdk_client_through_portal_to_http_upstream(tmp_path, upstream_url, mode):
    url, upstream_log = upstream_url
    (tmp_path / "w").mkdir()
    world = World(tmp_path / "w")
    config = world.config()
    portal = world.http(config, upstream_url=url)
    transport = Attaching(http_transport(portal), world)
    try:
        through = anyio.run(session, transport, mode, "portal")
    finally:
        portal.stop()
    assert through["echo"]["content"][0]["text"] == "echo: hello portal"
    assert through["add"]["structuredContent"] == {"result": 42}
    assert "forbidden" not in [t["name"] for t in through["tools"]["tools"]]
    receipts, _ = world.export(config)
    check_log(receipts, through["receipts"])
    calls = [(d, t, c) for d, t, c in shape(receipts) if t is not None]
    assert calls == [("ALLOW", "echo", None), ("RESULT", "echo", None), ("ALLOW", "add", None), ("RESULT", "add", None),
                     ("DENY", "forbidden", "PTL_TOOL_NOT_ALLOWED")]
    assert all("upstream" not in r for r in receipts), "a plain-http upstream has no identity to record"
    ran = [json.loads(line)["tool"] for line in open(upstream_log)]
    assert ran == ["echo", "add"], ran


def test_pinned_upstream_over_plain_http_is_drift(tmp_path, upstream_url):
    url, _ = upstream_url
    (tmp_path / "w").mkdir()
    world = World(tmp_path / "w")
    pinned = world.seal("pinned", world.unsigned(SUB, AGENT, upstream={"transport": "http", "url": url, "spki_sha256": "A" * 43}))
    config = world.config(artifacts=[pinned])
    portal = world.http(config, upstream_url=url)
    _, upstream_log = upstream_url
    try:
        status, _, body = portal.stateless(world.attach(call(1, "echo", {"text": "x"}, era="2026-07-28")))
        evidence.assert_code(body["error"]["data"]["code"], "PTL_UPSTREAM_DRIFT", (status, body))
        assert [r["decision"] for r in body["error"]["data"]["dev.agent-attestation/receipts"]] == ["DENY"]
    finally:
        portal.stop()
    assert not os.path.exists(upstream_log) or open(upstream_log).read() == "", "a call reached the upstream"

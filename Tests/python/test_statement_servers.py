"""Servers that accept only governed calls (statement.md): an MCP server on the MCP Python
SDK (statement_peer_server.py, MCPServer with the middleware of
conformance/examples/python/attest_statement_server.py) behind `attest portal stdio`.

A call through the portal carries the portal's forwarding statement and runs. Around the
portal, a second process of the same server (same audience, same trusted log key, same
replay cache file) is started directly, as anyone who can start the server could: a call
without a statement, the portal's statement replayed, the statement moved to other
arguments, and, at a server with another audience, the statement presented there, are each
refused with -31000 and their code, and the tool does not run. Each refusal has a positive
control at the same server: a fresh statement signed with the log key for the same params
runs the tool. The same with the MCP Swift SDK server (`attest mcp serve-governed`, its
`CallTool` handler wrapped with `governed`) behind the portal.

Nothing here skips: a missing package or binary fails with what to install or build.
"""
import copy, json, os, subprocess, sys, threading, time

import pytest

import evidence
from portal_fixture import HERE, MODERN, ORIGIN, World, attest_binary, call, http_request, stateless_meta

sys.path.insert(0, str(HERE.parents[1] / "conformance" / "examples" / "python"))
from impl_statement import STATEMENT_KEY, sign_statement  # noqa: E402

PEER = HERE / "statement_peer_server.py"
AUDIENCE = "mcp://statement-peer.test"


class Server:
    """The peer server spoken to directly in raw JSON lines over its stdio."""

    def __init__(self, env, argv=None):
        self.proc = subprocess.Popen(argv or [sys.executable, str(PEER)], env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.lines, self.cond = [], threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        self.ask({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "direct", "version": "1"}}})
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def _read(self):
        for raw in self.proc.stdout:
            with self.cond:
                self.lines.append(json.loads(raw))
                self.cond.notify_all()

    def send(self, message):
        self.proc.stdin.write(json.dumps(message).encode() + b"\n")
        self.proc.stdin.flush()

    def ask(self, message, timeout=60):
        self.send(message)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for m in self.lines:
                    if m.get("id") == message["id"] and "method" not in m:
                        self.lines.remove(m)
                        return m
                if time.monotonic() > deadline:
                    pytest.fail(f"no reply to {message['id']} from the server", pytrace=False)
                self.cond.wait(0.2)

    def call(self, id_, params):
        return self.ask({"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": params})

    def stop(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)


class StatementWorld(World):
    """The portal tests' world with the statement peer as the upstream."""

    def __init__(self, root, upstream=None):
        super().__init__(root)
        self.seen_log, self.calls_log = root / "seen.jsonl", root / "calls.jsonl"
        self.upstream = upstream

    def peer_env(self, audience=AUDIENCE, replay_db="replay.db"):
        return {**os.environ, "STATEMENT_TRUSTED": self.log_verifier, "STATEMENT_AUDIENCE": audience,
                "STATEMENT_REPLAY_DB": str(self.root / replay_db), "STATEMENT_MAX_AGE": "600", "PEER_SEEN": str(self.seen_log),
                "PEER_CALLS": str(self.calls_log)}

    def env(self, **extra):
        return {**self.peer_env(), **extra}

    def upstream_command(self):
        return self.upstream or [sys.executable, str(PEER)]

    def swift_server(self, audience=AUDIENCE):
        """`attest mcp serve-governed`: the MCP Swift SDK server with its CallTool handler wrapped."""
        return [attest_binary(), "mcp", "serve-governed", "--trusted-log", self.log_verifier, "--audience", audience,
                "--max-age", "600"]

    def ran(self):
        return [json.loads(l)["text"] for l in self.calls_log.read_text().splitlines()] if self.calls_log.exists() else []

    def received(self):
        return [json.loads(l) for l in self.seen_log.read_text().splitlines()]

    def fresh(self, params, seq, audience=AUDIENCE):
        """`params` with a statement signed here with the portal's log key (a positive control)."""
        seed = bytes.fromhex((self.root / "log.seed").read_text().strip())
        p = copy.deepcopy(params)
        p.setdefault("_meta", {}).pop(STATEMENT_KEY, None)
        p["_meta"][STATEMENT_KEY] = sign_statement(seed, ORIGIN, seq, audience, int(time.time()), p)
        return p


def refused(reply, code):
    assert "error" in reply, reply
    assert reply["error"]["code"] == -31000, reply
    evidence.assert_code(reply["error"]["data"]["code"], code, reply)


def refused_by_swift(reply, code):
    """The Swift SDK's refusal: -31000, the code in the message it writes (`Server error: CODE: …`)."""
    assert "error" in reply, reply
    assert reply["error"]["code"] == -31000, reply
    evidence.assert_code(reply["error"]["message"].split(": ")[1], code, reply)


def test_python_sdk_server_accepts_only_governed_calls(tmp_path):
    world = StatementWorld(tmp_path)
    config = world.config(statement={"audience": AUDIENCE})
    portal = world.stdio(config)
    try:
        portal.initialize()
        through = portal.ask(world.attach(call(1, "echo", {"text": "governed"})))
        assert through["result"]["content"][0]["text"] == "echo: governed", through
        receipts = through["result"]["_meta"]["dev.agent-attestation/receipts"]
        assert [r["decision"] for r in receipts] == ["ALLOW", "RESULT"]
    finally:
        portal.stop()
    assert world.ran() == ["governed"]
    forwarded = world.received()[-1]
    statement = forwarded["_meta"][STATEMENT_KEY]
    assert (statement["log"], statement["seq"], statement["aud"]) == (ORIGIN, receipts[0]["seq"], AUDIENCE)
    assert statement["iat"] == receipts[0]["time"]
    assert not any(k.startswith("dev.agent-attestation/") and k != STATEMENT_KEY for k in forwarded["_meta"])

    direct = Server(world.peer_env())
    other = Server(world.peer_env(audience="mcp://another-server.test", replay_db="other-replay.db"))
    try:
        bare = {"name": "echo", "arguments": {"text": "direct"}}
        # Around the portal: no statement. Control: the same params with a statement run.
        refused(direct.call(2, bare), "STM_MISSING")
        assert direct.call(3, world.fresh(bare, 1000))["result"]["content"][0]["text"] == "echo: direct"
        # The portal's statement replayed at the same server. Control: a fresh one for the same params.
        refused(direct.call(4, forwarded), "STM_REPLAY")
        assert "result" in direct.call(5, world.fresh(forwarded, 1001))
        # The statement moved to other arguments. Control: a statement made for those arguments.
        moved = copy.deepcopy(forwarded)
        moved["arguments"] = {"text": "moved"}
        refused(direct.call(6, moved), "STM_PARAMS_MISMATCH")
        assert "result" in direct.call(7, world.fresh(moved, 1002))
        # A statement for this server presented to another. Control: one made for the other server.
        refused(other.call(8, world.fresh(bare, 1003)), "STM_AUDIENCE_MISMATCH")
        assert "result" in other.call(9, world.fresh(bare, 1004, audience="mcp://another-server.test"))
    finally:
        direct.stop()
        other.stop()
    assert world.ran() == ["governed", "direct", "governed", "moved", "direct"], world.ran()


def test_portal_without_statement_audience_attaches_none(tmp_path):
    """Without `statement` in its configuration the portal attaches nothing, and the verifying
    server refuses even the portal's calls (STM_MISSING): the server, not the portal, decides."""
    world = StatementWorld(tmp_path)
    config = world.config()
    portal = world.stdio(config)
    try:
        portal.initialize()
        reply = portal.ask(world.attach(call(1, "echo", {"text": "x"})))
    finally:
        portal.stop()
    assert reply["error"]["code"] == -31000, reply
    evidence.assert_code(reply["error"]["data"]["code"], "STM_MISSING", reply)
    assert world.ran() == []


def test_swift_sdk_server_accepts_only_governed_calls(tmp_path):
    """The same with `attest mcp serve-governed` (the MCP Swift SDK server, a real process)
    behind `attest portal stdio`; its replay cache is its process's own, so the replay is
    sent to the process that accepted the statement."""
    world = StatementWorld(tmp_path)
    world.upstream = world.swift_server()
    config = world.config(statement={"audience": AUDIENCE})
    portal = world.stdio(config)
    try:
        portal.initialize()
        through = portal.ask(world.attach(call(1, "echo", {"text": "governed"})))
        assert through["result"]["content"][0]["text"] == "echo: governed", through
    finally:
        portal.stop()
    direct = Server(os.environ, world.swift_server())
    other = Server(os.environ, world.swift_server(audience="mcp://another-server.test"))
    try:
        bare = {"name": "echo", "arguments": {"text": "direct"}}
        refused_by_swift(direct.call(2, bare), "STM_MISSING")
        accepted = world.fresh(bare, 2000)
        assert direct.call(3, accepted)["result"]["content"][0]["text"] == "echo: direct"
        refused_by_swift(direct.call(4, accepted), "STM_REPLAY")
        moved = copy.deepcopy(accepted)
        moved["arguments"] = {"text": "moved"}
        refused_by_swift(direct.call(5, moved), "STM_PARAMS_MISMATCH")
        assert direct.call(6, world.fresh(moved, 2001))["result"]["content"][0]["text"] == "echo: moved"
        refused_by_swift(other.call(7, world.fresh(bare, 2002)), "STM_AUDIENCE_MISMATCH")
        assert "result" in other.call(8, world.fresh(bare, 2003, audience="mcp://another-server.test"))
    finally:
        direct.stop()
        other.stop()


def test_http_server_behind_the_http_portal(tmp_path):
    """Streamable HTTP at both ends: `attest portal http --upstream URL` in front of the MCP
    Python SDK server, whose audience is its URL as the portal is configured with it. A
    stateless call through the portal runs; the same call posted to the server's URL directly
    is refused (STM_MISSING), and with a statement made for it, runs (the positive control)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/mcp"
    world = StatementWorld(tmp_path)
    server = subprocess.Popen([sys.executable, str(PEER)], env={**world.peer_env(audience=url), "STATEMENT_HTTP_PORT": str(port)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    pytest.fail("the HTTP server did not start", pytrace=False)
                time.sleep(0.1)
        config = world.config(statement={"audience": url})
        portal = world.http(config, upstream_url=url)
        try:
            status, _, body = portal.stateless(world.attach(call(1, "echo", {"text": "over http"}, era=MODERN)))
        finally:
            portal.stop()
        assert status == 200 and body["result"]["content"][0]["text"] == "echo: over http", (status, body)
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                   "MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": "echo"}
        direct = {"name": "echo", "arguments": {"text": "direct"}, "_meta": stateless_meta()}

        def post(params):
            message = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": params}
            return http_request(url, "POST", json.dumps(message).encode(), headers, 60)[2]

        refused(post(direct), "STM_MISSING")
        assert post(world.fresh(direct, 3000, audience=url))["result"]["content"][0]["text"] == "echo: direct"
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert world.ran() == ["over http", "direct"], world.ran()

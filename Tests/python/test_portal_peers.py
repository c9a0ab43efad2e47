"""The portal between real MCP peers: the MCP Python SDK client (mcp 2.3.0) in both eras
(mode="legacy": 2025-11-25, mode="2026-07-28": stateless) through `attest portal stdio` and
`attest portal http` (Streamable HTTP), to an MCPServer of the same SDK (portal_upstream.py).

Every governed request the SDK is about to write (tools/call, tools/list, …) gets a token,
and a proof made in Python over the params on the wire. An allowed call's result equals,
as JSON, what the same upstream answers without the portal, apart from the receipts in
its `_meta`; tools/list is filtered to the artifact's tools; a denied call raises the
SDK's MCPError with -31000, the registry code and the DENY receipt. After the session the
portal is stopped cleanly, its store exported and verified PASS offline, and the log is
exactly the entries portal.md defines for the requests sent, holding every receipt the
client received.

Nothing here skips: a missing package or binary fails with what to install or build.
"""
import json, os, sys
from contextlib import AsyncExitStack

import pytest

try:
    import anyio
    from mcp import Client, StdioServerParameters
    from mcp.client import advertise
    from mcp.client.stdio import stdio_client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client
    from mcp.shared.exceptions import MCPError
    from mcp.shared.message import SessionMessage
    from mcp_types.jsonrpc import JSONRPCRequest
except ImportError as error:  # fail, never skip
    pytest.fail(f"missing Python package ({error}); run: pip install -r Tests/python/requirements.txt", pytrace=False)

from portal_fixture import (http_transport, AUD, EXT, RECEIPTS_KEY, UPSTREAM, World, attest_binary, check_log, shape, upstream_identity,
                            without_receipts)

GOVERNED = {"tools/call", "tools/list", "resources/list", "resources/templates/list", "resources/read", "prompts/list",
            "prompts/get", "completion/complete"}
ALLOWED_TOOLS = ["add", "ask", "crash", "echo", "slow"]


class Attaching:
    """Wraps a client transport: every governed request passes through `world.attach` just
    before it is written (after the SDK stamped its own _meta); `sent` lists their methods."""

    def __init__(self, open_transport, world):
        self.open_transport, self.world, self.sent = open_transport, world, []

    async def __aenter__(self):
        self._stack = AsyncExitStack()
        read, write = await self._stack.enter_async_context(self.open_transport())
        return read, _Writer(write, self)

    async def __aexit__(self, *exc):
        return await self._stack.__aexit__(*exc)


class _Writer:
    def __init__(self, inner, owner):
        self.inner, self.owner = inner, owner

    async def send(self, item):
        m = item.message
        if self.owner.world is not None and isinstance(m, JSONRPCRequest) and m.method in GOVERNED:
            wire = self.owner.world.attach(m.model_dump(by_alias=True, mode="json", exclude_unset=True))
            self.owner.sent.append(m.method)
            item = SessionMessage(JSONRPCRequest.model_validate(wire), metadata=item.metadata)
        await self.inner.send(item)

    async def aclose(self):
        await self.inner.aclose()

    async def __aenter__(self):
        await self.inner.__aenter__()
        return self

    async def __aexit__(self, *exc):
        return await self.inner.__aexit__(*exc)


def dump(model):
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


async def session(transport, mode, label):
    """The calls a test makes, through `transport`; returns what the client saw."""
    seen = {"receipts": []}
    async with Client(transport, mode=mode, extensions=[advertise(EXT, {})]) as client:
        assert client.protocol_version == ("2025-11-25" if mode == "legacy" else mode)
        if label == "portal" and mode == "legacy":
            advertised = dump(client.server_capabilities)
            assert advertised["extensions"][EXT] == {"audience": AUD, "policy": "required"}, advertised
        tools = dump(await client.list_tools(cache_mode="bypass"))
        seen["tools"] = tools
        for name, arguments in [("echo", {"text": "hello portal"}), ("add", {"a": 20, "b": 22})]:
            seen[name] = dump(await client.call_tool(name, arguments))
        if label == "portal":
            seen["receipts"] += tools.get("_meta", {}).get(RECEIPTS_KEY, [])
            for name in ("echo", "add"):
                seen["receipts"] += seen[name]["_meta"][RECEIPTS_KEY]
            with pytest.raises(MCPError) as denied:
                await client.call_tool("forbidden", {})
            assert denied.value.code == -31000 and denied.value.error.data["code"] == "PTL_TOOL_NOT_ALLOWED", denied.value.error
            deny = denied.value.error.data[RECEIPTS_KEY]
            assert [r["decision"] for r in deny] == ["DENY"] and deny[0]["tool"] == "forbidden"
            seen["receipts"] += deny
    return seen


def direct(world, mode):
    """The same calls straight to the upstream, without the portal."""
    env = world.env(PORTAL_UPSTREAM_LOG=str(world.root / "direct-calls.jsonl"))
    params = StdioServerParameters(command=sys.executable, args=[str(UPSTREAM)], env=env)
    return anyio.run(session, Attaching(lambda: stdio_client(params), None), mode, "direct")


def compare(world, mode, through):
    plain = direct(world, mode)
    direct_tools = plain["tools"]["tools"]
    assert sorted(t["name"] for t in direct_tools) == sorted(ALLOWED_TOOLS + ["forbidden"])
    assert [t["name"] for t in through["tools"]["tools"]] == [t["name"] for t in direct_tools if t["name"] != "forbidden"]
    assert without_receipts(through["tools"]) == dict(plain["tools"], tools=[t for t in direct_tools if t["name"] != "forbidden"])
    for name in ("echo", "add"):
        assert without_receipts(through[name]) == plain[name], (name, through[name], plain[name])
    assert through["echo"]["content"][0]["text"] == "echo: hello portal"
    assert through["add"]["structuredContent"] == {"result": 42}


def check_exported(world, config, through, sent):
    receipts, _ = world.export(config)
    check_log(receipts, through["receipts"])
    calls = [(d, t, c) for d, t, c in shape(receipts) if t is not None]
    assert calls == [("ALLOW", "echo", None), ("RESULT", "echo", None), ("ALLOW", "add", None), ("RESULT", "add", None),
                     ("DENY", "forbidden", "PTL_TOOL_NOT_ALLOWED")]
    # Every governed request the SDK sent is in the log: ALLOW and RESULT for each tools/list.
    listings = [r for r in receipts if r["method"] == "tools/list"]
    assert [r["decision"] for r in listings] == ["ALLOW", "RESULT"] * sent.count("tools/list")
    assert len(sent) == sent.count("tools/list") + 3
    for r in receipts:
        if r["decision"] == "ALLOW":
            assert r["upstream"] == upstream_identity()


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_sdk_client_through_stdio_portal(tmp_path, mode):
    world = World(tmp_path)
    config = world.config()
    params = StdioServerParameters(command=attest_binary(), args=["portal", "stdio", "--config", str(config), "--",
                                                                  *world.upstream_command()], env=world.env())
    transport = Attaching(lambda: stdio_client(params), world)
    through = anyio.run(session, transport, mode, "portal")
    assert [(c["tool"], c["arguments"]) for c in world.upstream_calls()] == [
        ("echo", {"text": "hello portal"}), ("add", {"a": 20, "b": 22})], "the upstream ran other calls than the allowed ones"
    compare(world, mode, through)
    check_exported(world, config, through, transport.sent)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
def test_sdk_client_through_http_portal(tmp_path, mode):
    world = World(tmp_path)
    config = world.config()
    portal = world.http(config)

    HTTPTransport = http_transport(portal)
    transport = Attaching(HTTPTransport, world)
    try:
        through = anyio.run(session, transport, mode, "portal")
        assert portal.get("/healthz")[0] == 200
    finally:
        code = portal.stop()
    assert code == 0, portal.stderr_text()
    assert [(c["tool"], c["arguments"]) for c in world.upstream_calls()] == [
        ("echo", {"text": "hello portal"}), ("add", {"a": 20, "b": 22})]
    compare(world, mode, through)
    check_exported(world, config, through, transport.sent)

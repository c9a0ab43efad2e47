"""A request of the server's own (an elicitation) in the middle of a governed call passes
through the portal untouched, both ways, over stdio and over Streamable HTTP (where it
travels on the event stream of the call in flight): the MCP Python SDK client answers it,
the upstream's tool gets the answer, and the call is recorded as its ALLOW and RESULT."""
import anyio
import mcp_types as types
from contextlib import AsyncExitStack

from mcp import Client, StdioServerParameters
from mcp.client import advertise
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from portal_fixture import http_transport, EXT, RECEIPTS_KEY, World, attest_binary, check_log
from test_portal_peers import Attaching


async def ask_through(transport, questions):
    async def answer(context, params):
        questions.append(params.message)
        return types.ElicitResult(action="accept", content={"answer": "yes"})

    async with Client(transport, mode="legacy", extensions=[advertise(EXT, {})], elicitation_callback=answer) as client:
        result = await client.call_tool("ask", {"question": "proceed?"})
        return result.model_dump(by_alias=True, mode="json", exclude_none=True)


def check(world, config, result, questions):
    assert questions == ["proceed?"]
    assert result["content"][0]["text"] == "you said yes", result
    receipts = result["_meta"][RECEIPTS_KEY]
    assert [(r["decision"], r["tool"]) for r in receipts] == [("ALLOW", "ask"), ("RESULT", "ask")]
    assert [c["tool"] for c in world.upstream_calls()] == ["ask"]
    exported, _ = world.export(config)
    check_log(exported, receipts)


def test_elicitation_through_stdio_portal(tmp_path):
    world = World(tmp_path)
    config = world.config()
    params = StdioServerParameters(command=attest_binary(), args=["portal", "stdio", "--config", str(config), "--",
                                                                  *world.upstream_command()], env=world.env())
    questions = []
    result = anyio.run(ask_through, Attaching(lambda: stdio_client(params), world), questions)
    check(world, config, result, questions)


def test_elicitation_through_http_portal(tmp_path):
    world = World(tmp_path)
    config = world.config()
    portal = world.http(config)

    HTTPTransport = http_transport(portal)
    questions = []
    try:
        result = anyio.run(ask_through, Attaching(HTTPTransport, world), questions)
    finally:
        portal.stop()
    check(world, config, result, questions)

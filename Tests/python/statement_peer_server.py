"""An MCP server on the MCP Python SDK (MCPServer, stdio) that accepts only governed calls:
every tools/call must carry a forwarding statement (statement.md) that verifies, through
the middleware of conformance/examples/python/attest_statement_server.py. Used by
test_statement_servers.py.

Environment: STATEMENT_TRUSTED (the portal's note verifier key), STATEMENT_AUDIENCE,
STATEMENT_REPLAY_DB (a SQLite file: the replay cache every process of this server shares),
STATEMENT_MAX_AGE (seconds, default 60), STATEMENT_HTTP_PORT (serve Streamable HTTP on it),
PEER_SEEN (JSON lines: the params of every tools/call received, before verification),
PEER_CALLS (JSON lines: one per tool that ran).
"""
import json, os, pathlib, sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "conformance" / "examples" / "python"))

from mcp.server.mcpserver import MCPServer  # noqa: E402

from attest_statement_server import statement_middleware  # noqa: E402
from impl_statement import SQLiteReplayCache, StatementVerifier  # noqa: E402

ENV = os.environ


def append(path, record):
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


async def record_received(ctx, call_next):
    if ctx.method == "tools/call":
        append(ENV["PEER_SEEN"], dict(ctx.params or {}))
    return await call_next(ctx)


verifier = StatementVerifier([ENV["STATEMENT_TRUSTED"]], ENV["STATEMENT_AUDIENCE"], max_age=int(ENV.get("STATEMENT_MAX_AGE", "60")),
                             cache=SQLiteReplayCache(ENV["STATEMENT_REPLAY_DB"]))
app = MCPServer("statement-peer", middleware=[record_received, statement_middleware(verifier)])


@app.tool()
def echo(text: str) -> str:
    """Returns its text."""
    append(ENV["PEER_CALLS"], {"tool": "echo", "text": text})
    return f"echo: {text}"


if __name__ == "__main__":
    port = ENV.get("STATEMENT_HTTP_PORT")
    if port:  # Streamable HTTP at http://127.0.0.1:PORT/mcp
        app.run("streamable-http", port=int(port))
    else:
        app.run()

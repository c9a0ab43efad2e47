"""Governed calls only, for a server on the MCP Python SDK (package `mcp`, MCPServer).

A middleware that verifies the forwarding statement (statement.md) of every `tools/call`
before its tool runs, and refuses a call without a valid, fresh, unreplayed statement for
this server with the JSON-RPC error of mcp-binding.md: code -31000, the registry code in
`error.data`. Other requests pass untouched.

    from mcp.server.mcpserver import MCPServer
    from attest_statement_server import statement_middleware
    from impl_statement import StatementVerifier

    verifier = StatementVerifier(["portal.example/log/0+1a2b3c4d+AX..."], "mcp://search.example")
    app = MCPServer("search", middleware=[statement_middleware(verifier)])

The verifier holds the replay cache, so one verifier serves every session of the process.
The trusted keys are the portal's note verifier key: the portal's log key itself must never
be on the server.
"""
from __future__ import annotations

import time

from attest_core import OpError
from impl_statement import StatementVerifier

EXTENSION = "dev.agent-attestation/v1"
REJECTION = -31000


def refusal(code: str, message: str):
    """The MCP error a refused call is answered with (mcp-binding.md MCP-017)."""
    from mcp.shared.exceptions import MCPError
    return MCPError(REJECTION, message, {"code": code, "extension": EXTENSION})


def statement_middleware(verifier: StatementVerifier, clock=lambda: int(time.time())):
    """An MCPServer middleware: every `tools/call` runs only after its statement verifies."""

    async def verify_statement(ctx, call_next):
        if ctx.method != "tools/call":
            return await call_next(ctx)
        try:
            verifier.verify(dict(ctx.params or {}), clock())
        except OpError as error:
            raise refusal(error.code, str(error)) from None
        return await call_next(ctx)

    return verify_statement

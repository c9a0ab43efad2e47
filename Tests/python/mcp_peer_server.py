"""An MCP server on the MCP Python SDK (dual-era MCPServer, stdio) that checks every
tools/call with `attest mcp verify` before the tool runs. Used by test_mcp_peers.py.

Environment: ATTEST_BIN, PEER_JWKS (issuer JWK Set file), PEER_REPLAY_DB (SQLite replay
store shared by the verifications), PEER_LOG (JSON lines: one verdict per call),
PEER_AUDIENCE, PEER_ISSUER, PEER_TRUST_DOMAIN, PEER_POLICY.
"""
import json, os, subprocess, tempfile

from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError

ENV = os.environ


async def verify_attestation(ctx, call_next):
    if ctx.method != "tools/call" or ctx.request_id is None:
        return await call_next(ctx)
    request = {"jsonrpc": "2.0", "id": ctx.request_id, "method": ctx.method, "params": dict(ctx.params or {})}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(request, f)
    try:
        run = subprocess.run([ENV["ATTEST_BIN"], "mcp", "verify", "--request", f.name, "--era", ctx.protocol_version,
                              "--audience", ENV["PEER_AUDIENCE"], "--issuer", ENV["PEER_ISSUER"], "--jwks", ENV["PEER_JWKS"],
                              "--trust-domain", ENV["PEER_TRUST_DOMAIN"], "--policy", ENV.get("PEER_POLICY", "required"),
                              "--replay-db", ENV["PEER_REPLAY_DB"]], capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(f.name)
    verdict = json.loads(run.stdout.strip().splitlines()[-1])
    verdict["era"] = ctx.protocol_version
    with open(ENV["PEER_LOG"], "a") as log:
        log.write(json.dumps(verdict) + "\n")
    if verdict["result"] != "valid":
        error = verdict["response"]["error"]
        raise MCPError(error["code"], error["message"], error["data"])
    return await call_next(ctx)


app = MCPServer("python-peer", middleware=[verify_attestation])


@app.tool()
def whoami(note: str = "") -> str:
    return f"ran whoami {note}"


if __name__ == "__main__":
    app.run()

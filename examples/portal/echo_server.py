"""A small MCP server (MCP Python SDK, stdio) to put behind the portal in the quickstart."""
from mcp.server.mcpserver import MCPServer

app = MCPServer("echo-server")


@app.tool()
def echo(text: str) -> str:
    return "echo " + text


@app.tool()
def delete_everything() -> str:
    return "deleted"


if __name__ == "__main__":
    app.run()

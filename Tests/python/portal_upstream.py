"""The upstream MCP server behind the portal in the portal tests: an MCPServer of the MCP
Python SDK (dual-era, stdio), with no attestation of its own.

Tools: echo(text), add(a, b), forbidden() (exists here, allowed by no artifact),
crash() (the process exits mid-call), slow(seconds), ask(question) (elicits an answer
from the client: a request of the server's own, in the middle of the call). Every tool invocation appends one
JSON line {"tool", "arguments", "pid"} to the file named by PORTAL_UPSTREAM_LOG (when
set), before it does anything else, so a test can tell which calls reached the upstream.
"""
import json, os, time

from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel

app = MCPServer("portal-upstream")


def ran(tool, **arguments):
    path = os.environ.get("PORTAL_UPSTREAM_LOG")
    if path:
        with open(path, "a") as log:
            log.write(json.dumps({"tool": tool, "arguments": arguments, "pid": os.getpid()}) + "\n")
            log.flush()


@app.tool()
def echo(text: str) -> str:
    """Returns its text."""
    ran("echo", text=text)
    return f"echo: {text}"


@app.tool()
def add(a: int, b: int) -> int:
    """Adds two integers."""
    ran("add", a=a, b=b)
    return a + b


@app.tool()
def forbidden() -> str:
    """A tool no artifact allows."""
    ran("forbidden")
    return "this must never run"


@app.tool()
def crash() -> str:
    """Ends the server process in the middle of the call."""
    ran("crash")
    os._exit(1)


@app.tool()
def slow(seconds: int = 1) -> str:
    """Answers after `seconds`."""
    ran("slow", seconds=seconds)
    time.sleep(seconds)
    return f"slept {seconds}"


class Answer(BaseModel):
    answer: str


@app.tool()
async def ask(question: str, ctx: Context) -> str:
    """Asks the client (an elicitation: a request of the server's own) and returns the answer."""
    ran("ask", question=question)
    result = await ctx.elicit(question, Answer)
    return f"you said {result.data.answer}" if result.action == "accept" else f"you {result.action}"


if __name__ == "__main__":
    port = os.environ.get("PORTAL_UPSTREAM_HTTP_PORT")
    if port:  # Streamable HTTP at http://127.0.0.1:PORT/mcp, for the portal's --upstream URL
        app.run("streamable-http", port=int(port))
    else:
        app.run()

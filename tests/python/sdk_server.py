"""An MCP server on the official Python SDK (`mcp` 2.x, pinned in
requirements.txt), for the gateway's tests: `python sdk_server.py` serves
Streamable HTTP at /mcp on a free loopback port and prints
`listening on 127.0.0.1:PORT` once it accepts connections.

Its tool `ask_llm` asks the client to sample through the session object
(`ctx.session.create_message`), with no related request: the SDK sends that
request on the session's standalone GET stream, not on the call's stream.
"""

import socket
import warnings

import anyio
import uvicorn

from mcp import types
from mcp.server.mcpserver import Context, MCPServer

warnings.simplefilter("ignore")  # sampling is deprecated in 2026-07-28, still served here
server = MCPServer(name="py-sdk", version="1.0.0")


@server.tool()
async def ask_llm(prompt: str, ctx: Context) -> str:
    """Asks the client's LLM and answers with what it said."""
    message = types.SamplingMessage(role="user", content=types.TextContent(type="text", text=prompt))
    result = await ctx.session.create_message(messages=[message], max_tokens=50)
    return f"llm said: {result.content.text}"


if __name__ == "__main__":
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    print(f"listening on 127.0.0.1:{sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(server.streamable_http_app(), log_level="warning")
    anyio.run(uvicorn.Server(config).serve, [sock])

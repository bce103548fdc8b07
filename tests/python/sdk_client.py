"""An MCP client on the official Python SDK (`mcp` 2.x), for the gateway's
tests: `python sdk_client.py URL TOKEN TOOL PROMPT [--then-wait]`. It
declares sampling (answering `sampled: <prompt>`), calls TOOL with
`{"prompt": PROMPT}` and prints the first text of the result as one JSON
line. With `--then-wait` it stays connected until it is asked to sample once
more, while no call runs, prints what it was asked as a second line, and
leaves when its stdin closes.
"""

import asyncio
import json
import logging
import os
import sys
import warnings

import httpx2
from mcp import types
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client

warnings.simplefilter("ignore")
if os.environ.get("MCPGW_PY_DEBUG"):
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)


ASKED: asyncio.Queue = asyncio.Queue()


async def sample(_context, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    asked = params.messages[0].content.text
    ASKED.put_nowait(asked)
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text=f"sampled: {asked}"), model="test-model"
    )


async def main(url: str, token: str, tool: str, prompt: str, then_wait: bool) -> None:
    http = httpx2.AsyncClient(headers={"authorization": f"Bearer {token}"}, timeout=30)
    async with streamable_http_client(url, http_client=http) as (read, write):
        async with ClientSession(read, write, sampling_callback=sample) as session:
            await session.initialize()
            result = await session.call_tool(tool, {"prompt": prompt})
            text = result.content[0].text if result.content else ""
            print(json.dumps({"text": text, "isError": bool(result.is_error)}), flush=True)
            if then_wait:
                while not ASKED.empty():
                    ASKED.get_nowait()
                asked = await asyncio.wait_for(ASKED.get(), timeout=30)
                print(json.dumps({"asked": asked}), flush=True)
                # The answer is still being sent: stay until told to go
                # (stdin closed), or leaving would cancel it.
                await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5], then_wait="--then-wait" in sys.argv[5:]))

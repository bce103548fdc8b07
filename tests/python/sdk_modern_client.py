"""A 2026-07-28 client on the official Python SDK (`mcp` 2.x, its `Client`
in its default `auto` mode: it probes `server/discover` and, finding a
modern server, sends every request statelessly), for the gateway's tests:
`python sdk_modern_client.py URL TOKEN`. It declares elicitation and
sampling; the SDK answers `input_required` rounds through those callbacks
and retries on its own. It calls the fixture's tools that ask their client
mid-call and prints one JSON line: the negotiated version, and each tool's
first text.
"""

import asyncio
import json
import sys
import warnings

import httpx2
from mcp import types
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

warnings.simplefilter("ignore")


async def elicit(_context, params: types.ElicitRequestParams) -> types.ElicitResult:
    wanted = params.requested_schema.get("properties", {})
    answers = {"name": "Py", "color": "green"}
    return types.ElicitResult(action="accept", content={k: answers.get(k, "?") for k in wanted})


async def sample(_context, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    asked = params.messages[0].content.text
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text=f"sampled: {asked}"), model="test-model"
    )


async def main(url: str, token: str) -> None:
    http = httpx2.AsyncClient(headers={"authorization": f"Bearer {token}"}, timeout=30)
    transport = streamable_http_client(url, http_client=http)
    async with Client(transport, elicitation_callback=elicit, sampling_callback=sample) as client:
        out = {"version": client.protocol_version}
        for tool, args in [
            ("fx-test_input_required_result_elicitation", {}),
            ("fx-test_sampling", {"prompt": "a haiku"}),
            ("fx-test_input_required_result_multi_round", {}),
        ]:
            result = await client.call_tool(tool, args)
            out[tool] = result.content[0].text if result.content else None
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))

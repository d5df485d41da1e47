"""A small real MCP server, written with the official SDK, for the MCP client tests.

    python units_server.py                 # stdio
    python units_server.py --http PORT     # streamable HTTP on 127.0.0.1:PORT/mcp

Tools: `to_miles` (read-only), `save_note` (writes NOTES_FILE: not read-only, so the studio
asks before it runs), `broken` (always fails) and `sleep` (answers after N seconds).
"""

from __future__ import annotations

import os
import sys
import time

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("units", log_level="WARNING")


@server.tool(description="Convert a distance in kilometres to miles.", annotations=ToolAnnotations(read_only_hint=True))
def to_miles(km: float) -> str:
    return f"{km:g} km = {km * 0.621371:.2f} miles"


@server.tool(description="Save a note to the user's notes file.")
def save_note(text: str) -> str:
    with open(os.environ["NOTES_FILE"], "a", encoding="utf-8") as f:
        f.write(text + "\n")
    return f"saved {len(text)} characters"


@server.tool(description="A tool whose backend is down.", annotations=ToolAnnotations(read_only_hint=True))
def broken() -> str:
    raise RuntimeError("the units database is offline")


@server.tool(description="Answer after some seconds.", annotations=ToolAnnotations(read_only_hint=True))
def sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "awake"


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()

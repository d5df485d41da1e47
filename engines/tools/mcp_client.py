"""MCP tool servers as tool sources, through the official `mcp` SDK (stdio or streamable HTTP).

    spec = McpServerSpec(name="files", command=["python", "files_server.py"])     # or url="http://127.0.0.1:9000/mcp"
    tools = list_tools(spec)      # [{"name", "description", "parameters", "read_only"}]
    call_tool(spec, "read", {"path": "notes.md"})   # {"text": ..., "structured": ...}; ToolError on failure
    mcp_tool(spec, tools[0])      # a registry Tool named "files.read"

Each call opens its own session and closes it (a stdio server is started and stopped), so a
server that crashed is simply started again on the next call and no connection outlives a
turn. Everything is bounded by `timeout_s`: a server that does not start, hangs or answers
with an error becomes a `ToolError` whose message says which server and why, never an
exception that escapes into the chat. The SDK is async; these functions run it with
`anyio.run` on the calling thread (the chat worker, the CLI, a server thread), which must not
already run an event loop.
"""

from __future__ import annotations

import re
import shlex
import tempfile
from dataclasses import dataclass, field
from typing import Any

from engines.tools.registry import Tool, ToolError

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")  # no dots: a tool is addressed as SERVER.TOOL
MAX_TEXT = 20_000  # characters of tool output kept; the model reads a short excerpt anyway


class McpConfigError(ValueError):
    """A server definition that cannot work (bad name, no command or URL, both)."""


@dataclass(frozen=True)
class McpServerSpec:
    name: str = field(metadata={"help": "lower-case server name; its tools are NAME.TOOL"})
    command: tuple[str, ...] = field(default=(), metadata={"help": "stdio: the command line that starts the server"})
    url: str = field(default="", metadata={"help": "streamable HTTP: the server's endpoint, e.g. http://127.0.0.1:9000/mcp"})
    env: dict = field(default_factory=dict, metadata={"help": "extra environment variables for a stdio server"})
    timeout_s: float = field(default=20.0, metadata={"help": "start + call; a Python server starts in about 1 s"})

    def __post_init__(self):
        if not _NAME.match(self.name or ""):
            raise McpConfigError(f"MCP server name {self.name!r} must be lower-case letters, digits, _ or - (no dots)")
        if isinstance(self.command, str):
            object.__setattr__(self, "command", tuple(shlex.split(self.command)))
        object.__setattr__(self, "command", tuple(self.command))
        if bool(self.command) == bool(self.url):
            raise McpConfigError(f"MCP server {self.name!r} needs exactly one of a command (stdio) or a URL (HTTP)")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise McpConfigError(f"MCP server URL {self.url!r} must start with http:// or https://")
        if self.timeout_s <= 0:
            raise McpConfigError("the MCP timeout must be positive")

    @property
    def transport(self) -> str:
        return "stdio" if self.command else "http"

    def to_dict(self) -> dict:
        return {"name": self.name, "command": list(self.command), "url": self.url, "env": dict(self.env),
                "timeout_s": self.timeout_s}

    @classmethod
    def from_dict(cls, d: dict) -> "McpServerSpec":
        return cls(name=d["name"], command=tuple(d.get("command") or ()), url=d.get("url") or "",
                   env=dict(d.get("env") or {}), timeout_s=float(d.get("timeout_s") or 20.0))


def _first_error(exc: BaseException) -> BaseException:
    """The innermost real cause inside the task groups' ExceptionGroups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _session(spec: McpServerSpec, fn, what: str):
    """Run `await fn(client)` in a fresh session; every failure becomes a ToolError."""
    import anyio
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters, stdio_client

    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as errlog:
        if spec.command:
            params = StdioServerParameters(command=spec.command[0], args=list(spec.command[1:]), env=dict(spec.env) or None)
            server: Any = stdio_client(params, errlog=errlog)
        else:
            server = spec.url

        async def main():
            with anyio.fail_after(spec.timeout_s):
                async with Client(server, read_timeout_seconds=spec.timeout_s) as client:
                    return await fn(client)

        try:
            return anyio.run(main)
        except ToolError:
            raise
        except BaseException as e:  # noqa: BLE001 - a server's failure must reach the user as a tool error
            cause = _first_error(e)
            if isinstance(cause, (KeyboardInterrupt, SystemExit)):
                raise
            errlog.seek(0)
            stderr = [ln.strip() for ln in errlog.read().splitlines() if ln.strip()]
            where = f"`{' '.join(spec.command)}`" if spec.command else spec.url
            if isinstance(cause, TimeoutError):
                msg = f"MCP server {spec.name!r} ({where}) did not answer {what} within {spec.timeout_s:g} s"
            elif isinstance(cause, FileNotFoundError):
                msg = f"MCP server {spec.name!r} could not start: {spec.command[0]!r} was not found"
            else:
                detail = str(cause) or type(cause).__name__
                msg = f"MCP server {spec.name!r} ({where}) failed during {what}: {detail}"
            if stderr:
                msg += f" (its last stderr line: {stderr[-1][:300]})"
            raise ToolError(msg) from None


def list_tools(spec: McpServerSpec) -> list[dict]:
    """The server's tools: name, description, JSON schema of the arguments, read-only hint."""

    async def fn(client):
        tools, cursor = [], None
        for _page in range(50):  # a paginator that never ends must not hang the listing
            res = await client.list_tools(cursor=cursor)
            tools += res.tools
            cursor = res.next_cursor
            if not cursor:
                break
        return tools

    out = []
    for t in _session(spec, fn, "tools/list"):
        ann = t.annotations
        schema = dict(t.input_schema or {"type": "object", "properties": {}})
        schema.setdefault("type", "object")
        out.append({
            "name": t.name,
            "description": (t.description or t.title or t.name).strip(),
            "parameters": schema,
            # the spec's default for readOnlyHint is false: an unmarked tool may change things
            "read_only": bool(ann is not None and ann.read_only_hint),
        })
    return out


def call_tool(spec: McpServerSpec, tool: str, args: dict) -> dict:
    """Call one tool; returns {"text", "structured"}. A result flagged isError raises ToolError."""

    async def fn(client):
        return await client.call_tool(tool, args)

    res = _session(spec, fn, f"the call to {tool}")
    texts = [getattr(c, "text", None) or f"[{getattr(c, 'type', 'content')}]" for c in res.content or []]
    text = "\n".join(texts)[:MAX_TEXT]
    if res.is_error:
        raise ToolError(f"{spec.name}.{tool} returned an error: {text or 'no details'}")
    return {"text": text, "structured": res.structured_content}


def mcp_tool(spec: McpServerSpec, info: dict) -> Tool:
    """A registry Tool for one listed MCP tool (name "SERVER.TOOL")."""
    name = info["name"]
    return Tool(
        f"{spec.name}.{name}", info.get("description") or name, info.get("parameters") or {"type": "object"},
        lambda args: call_tool(spec, name, args), kind="mcp", read_only=bool(info.get("read_only")),
    )

"""MCP servers the user added as tool sources, stored in the Setting table.

    tools_service(studio).add_mcp(McpServerSpec(name="notes", command=["python", "notes_server.py"]),
                                  examples={"search": ["find my note about taxes"]})  # store_server, then retrain
    servers(studio)          # [{"name", "command", "url", "env", "tools": [...], "examples": {...}}]
    mcp_tools(studio)        # {"notes.search": Tool, ...} for the tools service
    refresh(studio, "notes") # list the server's tools again

Adding a server connects to it once and stores its tool list (names, descriptions, schemas,
read-only hints), so building the chat's tool set never starts a server; only a call does.
Example queries per tool feed the intent classifier exactly like an HTTP tool's examples.
"""

from __future__ import annotations

from studio.errors import NotFound, UserError

KEY = "tools.mcp_servers"


def _load(studio) -> list[dict]:
    from studio.db.models import Setting

    with studio.db.session() as s:
        row = s.get(Setting, KEY)
        return list((row.value or {}).get("servers", [])) if row else []


def _save(studio, rows: list[dict]) -> None:
    from studio.db.models import Setting

    with studio.db.session() as s:
        s.merge(Setting(key=KEY, value={"servers": sorted(rows, key=lambda r: r["name"])}))


def servers(studio) -> list[dict]:
    return _load(studio)


def spec_of(row: dict):
    from engines.tools.mcp_client import McpServerSpec

    return McpServerSpec.from_dict(row)


def mcp_tools(studio) -> dict:
    from engines.tools.mcp_client import mcp_tool

    out = {}
    for row in _load(studio):
        spec = spec_of(row)
        for info in row.get("tools", []):
            t = mcp_tool(spec, info)
            out[t.name] = t
    return out


def examples(studio) -> list[tuple[str, str]]:
    """(query, "SERVER.TOOL") pairs for the intent classifier."""
    return [(q, f"{row['name']}.{tool}") for row in _load(studio)
            for tool, qs in (row.get("examples") or {}).items() for q in qs]


def parse_examples(pairs: list[str]) -> dict[str, list[str]]:
    """`TOOL=QUERY` strings (the CLI's --example) into {tool: [queries]}."""
    out: dict[str, list[str]] = {}
    for p in pairs:
        tool, sep, query = p.partition("=")
        if not sep or not tool.strip() or not query.strip():
            raise UserError(f"--example {p!r} must look like TOOL=QUERY", hint='e.g. --example "add=what is 2 plus 3"')
        out.setdefault(tool.strip(), []).append(query.strip())
    return out


def store_server(studio, spec, examples: dict[str, list[str]] | None = None) -> dict:
    """Connect, list the tools, store the server. ToolsService.add_mcp calls this, then retrains
    the router, which the tools service owns (so this module never imports it)."""
    from engines.tools.registry import BUILTIN, ToolError

    rows = _load(studio)
    if any(r["name"] == spec.name for r in rows) or spec.name in BUILTIN:
        raise UserError(f"A tool source named {spec.name!r} already exists",
                        hint=f"pick another name, or remove it first with `studio tools remove-mcp {spec.name}`")
    try:
        tools = _list(spec)
    except ToolError as e:
        raise UserError(f"Could not add the MCP server: {e}", hint="check the command or URL; nothing was stored") from None
    examples = dict(examples or {})
    unknown = sorted(set(examples) - {t["name"] for t in tools})
    if unknown:
        raise UserError(f"--example names tool(s) {unknown} that {spec.name!r} does not offer",
                        hint=f"its tools: {', '.join(t['name'] for t in tools)}")
    rows.append({**spec.to_dict(), "tools": tools, "examples": examples})
    _save(studio, rows)
    return {"added": spec.name, "transport": spec.transport, "tools": [f"{spec.name}.{t['name']}" for t in tools]}


def _list(spec) -> list[dict]:
    from engines.tools.mcp_client import list_tools

    return list_tools(spec)


def refresh(studio, name: str) -> dict:
    from engines.tools.registry import ToolError

    rows = _load(studio)
    row = next((r for r in rows if r["name"] == name), None)
    if row is None:
        raise NotFound(f"No MCP server named {name!r}", hint="see `studio tools list`")
    try:
        row["tools"] = _list(spec_of(row))
    except ToolError as e:
        raise UserError(str(e), hint="the stored tool list was kept") from None
    _save(studio, rows)
    return {"refreshed": name, "tools": [f"{name}.{t['name']}" for t in row["tools"]]}


def remove_server(studio, name: str) -> None:
    rows = _load(studio)
    keep = [r for r in rows if r["name"] != name]
    if len(keep) == len(rows):
        raise NotFound(f"No MCP server named {name!r}", hint="see `studio tools list`")
    _save(studio, keep)

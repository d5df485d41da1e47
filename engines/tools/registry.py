"""The tool registry: each tool has a name, a description, a JSON schema and a runner.

    tools = builtin_tools(kb_path)               # calculator, python, search
    tools["weather"] = http_tool(spec)           # user-defined
    tools["files.read"] = mcp_tool(server, info) # from an MCP server (engines/tools/mcp_client.py)
    run_tool(tools["calculator"], {"expression": "2+2"})
    # {"tool": "calculator", "ok": True, "args": {...}, "result": {...}, "error": None, "duration_s": 0.0}

A runner takes validated arguments and returns plain data, or raises ToolError (or one of
the tools' own ValueErrors); `run_tool` turns both into one structured result, so nothing
a tool does can raise into the chat.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from engines.tools.schema import SchemaError, validate_args

BUILTIN = ("calculator", "python", "search")


class ToolError(ValueError):
    """A tool could not do what was asked; the message is shown to the model and the user.

    `partial` keeps what the tool did produce (the python run's stdout and stderr)."""

    def __init__(self, message: str, partial: Any = None):
        super().__init__(message)
        self.partial = partial


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict  # JSON schema of the arguments
    runner: Callable[[dict], Any]
    kind: str = "builtin"  # builtin | http | mcp
    read_only: bool = True  # False: the user confirms each call (an MCP tool its server does not mark read-only)

    def describe(self) -> dict:
        return {"name": self.name, "description": self.description, "parameters": self.parameters, "kind": self.kind,
                "read_only": self.read_only}


def _calculator(args: dict) -> dict:
    from engines.tools.calculator import calculate

    return calculate(args["expression"])


def _python_runner(allow_reduced_sandbox: bool):
    def run(args: dict) -> dict:
        from engines.tools.sandbox import SandboxLimits, run_python

        result = run_python(args["code"], SandboxLimits(allow_reduced=allow_reduced_sandbox))
        if not result["ok"]:
            # the structured result still goes to the user; the error text goes to the model
            raise ToolError(result["error"] or "the code failed", partial=result)
        return result

    return run


def _search_runner(kb_path: Path):
    def run(args: dict) -> dict:
        from engines.tools.search import KnowledgeBase

        if not Path(kb_path).exists():
            raise ToolError("the knowledge base is empty; add documents with `studio kb add PATH`")
        hits = KnowledgeBase(kb_path).search(args["query"], k=int(args.get("k", 3)))
        if not hits:
            raise ToolError(f"no passage in the knowledge base matches {args['query']!r}")
        return {"query": args["query"], "hits": [{k: h[k] for k in ("source", "title", "position", "score", "snippet", "text")} for h in hits]}

    return run


def builtin_tools(kb_path: str | Path, *, allow_reduced_sandbox: bool = False) -> dict[str, Tool]:
    """`allow_reduced_sandbox`: the user's opt-in to run python where only the audit hook holds."""
    return {
        "calculator": Tool(
            "calculator",
            "Exact arithmetic: + - * / ** %, percentages (\"17.5% of 2,340\"), big integers, decimals, sqrt.",
            {"type": "object", "properties": {"expression": {"type": "string", "maxLength": 2000}},
             "required": ["expression"], "additionalProperties": False},
            _calculator,
        ),
        "python": Tool(
            "python",
            "Run Python code in a sandbox (no network, no files outside a temp dir, time and memory limits); "
            "returns stdout and stderr.",
            {"type": "object", "properties": {"code": {"type": "string", "maxLength": 20000}},
             "required": ["code"], "additionalProperties": False},
            _python_runner(allow_reduced_sandbox),
        ),
        "search": Tool(
            "search",
            "Search the local knowledge base (handbook, documents the user added); returns passages with sources.",
            {"type": "object", "properties": {"query": {"type": "string"}, "k": {"type": "integer"}},
             "required": ["query"], "additionalProperties": False},
            _search_runner(Path(kb_path)),
        ),
    }


def http_tool(spec) -> Tool:
    from engines.tools.http_tool import call_http_tool

    return Tool(spec.name, spec.description, spec.schema, lambda args: call_http_tool(spec, args), kind="http")


def run_tool(tool: Tool, args: dict) -> dict:
    """Validate and run; always returns {tool, ok, args, result, error, duration_s}."""
    start = time.perf_counter()
    result, error = None, None
    try:
        args = validate_args(tool.parameters, args)
        result = tool.runner(args)
    except SchemaError as e:
        error = f"{tool.name}: {e}"
    except ToolError as e:
        error, result = str(e), e.partial
    except ValueError as e:  # the tools' own errors (CalculatorError, HttpToolError, ...)
        error = str(e)
    return {"tool": tool.name, "ok": error is None, "args": args, "result": result, "error": error,
            "duration_s": round(time.perf_counter() - start, 4)}

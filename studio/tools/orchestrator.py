"""One chat turn's tool work: route, fill arguments, call, and hand the results to the model.

    turn = run_tools_for_turn(studio, "what's 17.5% of 2,340?", ["calculator"], generate)
    turn.calls     # [{"tool": "calculator", "args": {...}, "result": {...}, "error": None, ...}]
    turn.context   # "Tool results ... [1] calculator: 17.5% of 2,340 = 409.5"

The query is split into requests ("...? And what's the weather in Oslo?"), each request is
routed by the intent classifier (every decision logged with its confidence), and at most
`max_calls` tools run. Arguments come from the model's grammar-constrained function call
when the chat passes `constrained` (a `complete(prompt, json_schema, max_tokens) -> str`
sampling under the schema's GBNF, see engines/tools/function_call.py; for instruct models),
otherwise from the per-tool extractors. A tool that is not read-only (an MCP tool its server
does not mark so) runs only when `confirm(name, args, description) -> bool` allows it; without
`confirm` it is refused. A failing tool is reported in its call and in the context the model reads; it is
never retried. Returns None when no request needs a tool.

Runs on the caller's thread (the chat worker); `generate` and `constrained` belong to it.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Callable

MAX_CALLS = 3  # enough for "A and B and C"; more in one turn is usually a routing mistake
Generate = Callable[[list[dict], int], str]


@dataclass
class ToolTurn:
    calls: list[dict]
    context: str
    summary: str  # a plain answer built from the results, for models too small to synthesise
    decisions: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"calls": self.calls, "context": self.context, "summary": self.summary, "decisions": self.decisions}


_SPLIT = re.compile(r"(?<=[?!])\s+|;\s*|\s+(?:and then|and also|also,?)\s+|\.\s+(?=[A-Z])")


def split_requests(query: str) -> list[str]:
    parts = [p.strip() for p in _SPLIT.split(query.strip()) if p and p.strip()]
    return parts or [query.strip()]


def route(studio, query: str, enabled_tools: list[str], origin: str = "chat"):
    """The classifier's decision for one request, logged."""
    from studio.tools.service import tools_service

    svc = tools_service(studio)
    decision = svc.classifier().predict(query, enabled_tools)
    svc.log_decision(query, decision, enabled_tools, origin)
    return decision


def arguments_for(tool, query: str, generate: Generate | None, constrained=None) -> dict:
    """The model's grammar-constrained call when a completer is given, else the extractor."""
    from engines.tools.extract import extract_args

    if constrained is not None:
        from engines.tools.function_call import constrained_arguments

        return constrained_arguments(constrained, tool.name, tool.description, tool.parameters, query)
    return extract_args(tool.name, query, tool.parameters, generate)


def run_tools_for_turn(studio, query: str, enabled_tools: list[str], generate: Generate | None = None, *,
                       max_calls: int = MAX_CALLS, constrained=None, confirm=None) -> ToolTurn | None:
    from engines.tools.extract import ExtractError
    from engines.tools.registry import run_tool
    from studio.tools.service import tools_service

    svc = tools_service(studio)
    tools = svc.tools()
    enabled = [t for t in enabled_tools if t in tools]
    calls, decisions = [], []
    for request in split_requests(query)[: max_calls * 2]:
        if len(calls) >= max_calls:
            break
        decision = route(studio, request, enabled)
        decisions.append({"request": request, **decision.to_dict()})
        if decision.tool is None:
            continue
        tool = tools[decision.tool]
        start = time.perf_counter()
        try:
            args = arguments_for(tool, request, generate, constrained)
        except (ExtractError, ValueError) as e:
            calls.append({"tool": tool.name, "args": {}, "result": None, "error": str(e), "ok": False,
                          "duration_s": round(time.perf_counter() - start, 4),
                          "confidence": round(decision.confidence, 4), "request": request})
            continue
        if not tool.read_only and not (confirm is not None and confirm(tool.name, args, tool.description)):
            out = {"tool": tool.name, "args": args, "result": None, "ok": False,
                   "error": f"you did not allow {tool.name} to run (it is not marked read-only, so it asks first)"}
        else:
            out = run_tool(tool, args)
        out.update(duration_s=round(time.perf_counter() - start, 4), confidence=round(decision.confidence, 4),
                   request=request)
        calls.append(out)
    if not calls:
        return None
    return ToolTurn(calls, tool_context(calls), summarize(calls), decisions)


# ---- what the model reads -------------------------------------------------------------------
def _short(value, limit: int = 600) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + " …"


def cite_lines(call: dict, first: int) -> list[str]:
    """The numbered lines one call contributes (a search call gives one per passage)."""
    tool, res = call["tool"], call.get("result")
    if call.get("error"):
        extra = ""
        if tool == "python" and res and res.get("stderr"):
            extra = f" (stderr: {_short(res['stderr'].strip().splitlines()[-1], 200)})"
        return [f"[{first}] {tool} FAILED: {call['error']}{extra}"]
    if tool == "calculator":
        return [f"[{first}] calculator: {call['args'].get('expression')} = {res['result']}"]
    if tool == "python":
        return [f"[{first}] python printed: {_short(res.get('stdout', '').strip() or '(nothing)')}"]
    if tool == "search":
        return [f"[{first + i}] {h['source']} (passage {h['position'] + 1}): {_short(h['text'], 500)}"
                for i, h in enumerate(res["hits"])]
    args = ", ".join(f"{k}={v}" for k, v in call["args"].items())
    return [f"[{first}] {tool}({args}): {_short(_payload(res))}"]


def _payload(res: dict):
    """What an HTTP tool ("data") or an MCP tool ("text", else "structured") returned."""
    if "data" in res:
        return res["data"]
    return res.get("text") or res.get("structured")


def tool_context(calls: list[dict]) -> str:
    lines, n = [], 1
    for call in calls:
        got = cite_lines(call, n)
        n += len(got)
        lines += got
    failed = any(c.get("error") for c in calls)
    head = "Tool results. Answer the user from these results and cite them by number, like [1]."
    if failed:
        head += " A tool FAILED: tell the user it failed and why; do not make up its result."
    return head + "\n" + "\n".join(lines)


def summarize(calls: list[dict]) -> str:
    parts, n = [], 1
    for call in calls:
        tool, res = call["tool"], call.get("result")
        if call.get("error"):
            parts.append(f"The {tool} tool failed: {call['error']} [{n}]")
            n += 1
        elif tool == "calculator":
            parts.append(f"{call['args']['expression']} = {res['result']} [{n}]")
            n += 1
        elif tool == "python":
            parts.append(f"The code printed: {_short(res.get('stdout', '').strip() or '(nothing)', 300)} [{n}]")
            n += 1
        elif tool == "search":
            best = res["hits"][0]
            parts.append(f"According to {best['source']}: {_short(best['text'], 300)} [{n}]")
            n += len(res["hits"])
        else:
            parts.append(f"{tool}: {_short(_payload(res), 300)} [{n}]")
            n += 1
    return "\n".join(parts)

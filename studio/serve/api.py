"""The OpenAI chat-completions dialect, translated to and from the studio's chat turns.

Plain functions over plain data, so they are tested without a socket:

    req = parse_chat_request(body)          # ApiError(400) on anything malformed
    req.mode, req.settings, req.history     # what ChatService.run_turn_for takes
    completion(req, result, ...)            # the non-streaming response object
    chunk(...)                              # one server-sent event's object

The studio's modes: `reasoning_effort` none -> fast; low/medium/high -> reasoning with a
thinking budget of 256/1024/4096 tokens. The studio's own `thinking: {"budget_tokens": N}`
(Anthropic's shape) selects reasoning with budget N (0, or {"type": "disabled"}, is fast).
The hidden thinking comes back as `reasoning_content`, and
`usage.completion_tokens_details.reasoning_tokens` counts it, as DeepSeek, vLLM and
llama-server report it.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field

EFFORT_BUDGETS = {"low": 256, "medium": 1024, "high": 4096}  # thinking tokens per effort level
DEFAULT_MAX_TOKENS = 512  # when the client sends none: a chat answer, not the whole context
MAX_TOOL_ARG_TOKENS = 256


class ApiError(Exception):
    """An error answered as OpenAI does: {"error": {"message", "type", "code", "param"}}."""

    def __init__(self, status: int, message: str, code: str | None = None, param: str | None = None,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.kind = status, message, code, param, kind

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "code": self.code, "param": self.param}}


@dataclass
class ChatRequest:
    model: str
    history: list[dict]  # user/assistant turns, strictly alternating, the last one the user's
    mode: str  # fast | reasoning
    settings: dict  # chat settings (studio.chat.service.DEFAULTS keys)
    stream: bool = False
    include_usage: bool = False
    tools: list[dict] = field(default_factory=list)  # [{"name", "description", "parameters"}]
    tool_choice: str | dict = "auto"  # none | auto | required | {"type": "function", "function": {"name"}}
    answered_tool: bool = False  # the last message carried tool results: answer them, do not call again

    @property
    def forced_tool(self) -> str | None:
        if isinstance(self.tool_choice, dict):
            return (self.tool_choice.get("function") or {}).get("name")
        return None


def _text(content, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for p in content:
            if not isinstance(p, dict) or p.get("type") not in ("text", "input_text"):
                raise ApiError(400, f"{where}: only text content parts are supported", param="messages")
            parts.append(str(p.get("text", "")))
        return "".join(parts)
    raise ApiError(400, f"{where}: content must be a string or a list of text parts", param="messages")


def _history(messages) -> tuple[str, list[dict], bool]:
    """(system prompt, alternating user/assistant turns, whether tool results came last)."""
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "messages must be a non-empty list", param="messages")
    system, turns = [], []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise ApiError(400, f"messages[{i}] must be an object", param="messages")
        role, text = m.get("role"), _text(m.get("content"), f"messages[{i}]")
        if role in ("system", "developer"):
            system.append(text)
            continue
        if role == "tool":
            role, text = "user", f"Tool result ({m.get('name') or m.get('tool_call_id') or 'tool'}): {text}"
        elif role == "assistant" and m.get("tool_calls"):
            calls = "; ".join(f"{c['function']['name']}({c['function'].get('arguments', '')})"
                              for c in m["tool_calls"] if isinstance(c, dict) and c.get("function"))
            text = (text + "\n" if text else "") + f"Calling tools: {calls}"
        elif role not in ("user", "assistant"):
            raise ApiError(400, f"messages[{i}].role {role!r} is not one of system, user, assistant, tool", param="messages")
        if turns and turns[-1]["role"] == role:  # the templates demand alternation: merge neighbours
            turns[-1]["content"] += "\n\n" + text
        else:
            turns.append({"role": role, "content": text, "tool": m.get("role") == "tool"})
    if not turns or turns[-1]["role"] != "user":
        raise ApiError(400, "the last message must be from the user (or a tool result)", param="messages")
    if turns[0]["role"] != "user":
        turns.insert(0, {"role": "user", "content": "(conversation continues)", "tool": False})
    answered_tool = turns[-1]["tool"]
    return "\n\n".join(s for s in system if s), [{"role": t["role"], "content": t["content"]} for t in turns], answered_tool


def _mode(body: dict) -> tuple[str, int | None]:
    """(mode, thinking budget or None) from reasoning_effort or thinking.budget_tokens."""
    thinking = body.get("thinking")
    if thinking is not None:
        if not isinstance(thinking, dict):
            raise ApiError(400, "thinking must be an object like {\"budget_tokens\": 512}", param="thinking")
        if thinking.get("type") == "disabled":
            return "fast", None
        n = thinking.get("budget_tokens")
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ApiError(400, "thinking.budget_tokens must be a whole number >= 0", param="thinking")
        return ("fast", None) if n == 0 else ("reasoning", n)
    effort = body.get("reasoning_effort")
    if effort is None or effort in ("none", "minimal"):
        return "fast", None
    if effort not in EFFORT_BUDGETS:
        raise ApiError(400, f"reasoning_effort {effort!r} is not one of none, low, medium, high", param="reasoning_effort")
    return "reasoning", EFFORT_BUDGETS[effort]


def _number(body: dict, key: str, lo: float, hi: float, integer: bool = False):
    v = body.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not isinstance(v, int)) or not lo <= v <= hi:
        raise ApiError(400, f"{key} must be a {'whole ' if integer else ''}number in [{lo:g}, {hi:g}]", param=key)
    return v


def _tools(body: dict) -> tuple[list[dict], str | dict]:
    tools = []
    for i, t in enumerate(body.get("tools") or []):
        fn = t.get("function") if isinstance(t, dict) and t.get("type") == "function" else None
        if not isinstance(fn, dict) or not fn.get("name"):
            raise ApiError(400, f"tools[{i}] must be {{\"type\": \"function\", \"function\": {{\"name\", ...}}}}", param="tools")
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        tools.append({"name": str(fn["name"]), "description": str(fn.get("description") or ""), "parameters": params})
    choice = body.get("tool_choice", "auto" if tools else "none")
    names = [t["name"] for t in tools]
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name not in names:
            raise ApiError(400, f"tool_choice names {name!r}, which is not in tools", param="tool_choice")
    elif choice not in ("none", "auto", "required"):
        raise ApiError(400, "tool_choice must be none, auto, required or a function", param="tool_choice")
    elif choice == "required" and not tools:
        raise ApiError(400, "tool_choice is required but no tools were given", param="tool_choice")
    return tools, choice


def parse_chat_request(body, *, prompt_lookup: bool = False) -> ChatRequest:
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise ApiError(400, "model is required (see GET /v1/models)", param="model")
    system, history, answered_tool = _history(body.get("messages"))
    mode, budget = _mode(body)
    max_tokens = _number(body, "max_completion_tokens", 1, 1 << 20, True) or _number(body, "max_tokens", 1, 1 << 20, True)
    settings: dict = {"system_prompt": system, "max_tokens_fast": max_tokens or DEFAULT_MAX_TOKENS,
                      "max_tokens_reasoning": max_tokens or DEFAULT_MAX_TOKENS, "tools": [],
                      "prompt_lookup": bool(body.get("prompt_lookup", prompt_lookup))}
    if budget is not None:
        settings["think_budget"] = budget
    for key, lo, hi in (("temperature", 0, 2), ("top_p", 1e-9, 1)):
        v = _number(body, key, lo, hi)
        if v is not None:
            settings[key] = v
    seed = _number(body, "seed", -(1 << 63), 1 << 63, True)
    if seed is not None:
        settings["seed"] = seed
    if body.get("n", 1) != 1:
        raise ApiError(400, "only n = 1 is supported", param="n")
    tools, choice = _tools(body)
    opts = body.get("stream_options") or {}
    return ChatRequest(model=model, history=history, mode=mode, settings=settings, stream=bool(body.get("stream")),
                       include_usage=bool(opts.get("include_usage")), tools=tools, tool_choice=choice,
                       answered_tool=answered_tool)


# ---- responses ---------------------------------------------------------------------------------
def new_id(prefix: str = "chatcmpl") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def usage(prompt_tokens: int, visible: int, hidden: int, cached: int = 0) -> dict:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": visible + hidden,
        "total_tokens": prompt_tokens + visible + hidden,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": hidden},
    }


def finish_reason(studio_reason: str) -> str:
    return {"length": "length", "cancelled": "stop"}.get(studio_reason, "stop")


def completion(cid: str, model: str, message: dict, finish: str, use: dict) -> dict:
    return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}], "usage": use}


def chunk(cid: str, model: str, delta: dict | None, finish: str | None = None, use: dict | None = None) -> dict:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]
    out = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model, "choices": choices}
    if use is not None:
        out["usage"] = use
    return out


def tool_call(name: str, args: dict) -> dict:
    return {"id": new_id("call"), "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def choice_prompt(tools: list[dict], query: str) -> str:
    lines = "\n".join(f"- {t['name']}: {t['description']}" for t in tools)
    return (f"Tools you can call:\n{lines}\n\nPick the tool that answers this request, or none if no tool is "
            f"needed.\n\nRequest: {query}\nAnswer as JSON: ")

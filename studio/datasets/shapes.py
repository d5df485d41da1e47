"""Map community shapes onto trl's dataset formats, and validate each row strictly.

Kinds (trl's formats, so rows flow straight into training):
  sft         {"messages": [{"role", "content"}, ...]}  or  {"prompt": str, "completion": str}
  preference  {"prompt": str|messages, "chosen": str|messages, "rejected": str|messages}
  prompt      {"prompt": str|messages, "answer"?: str, "tests"?: [str]}

Community shapes mapped on import: ShareGPT (`conversations` with `from`/`value`) and Alpaca
(`instruction`/`input`/`output`). `map_record` returns the normalised row or a list of
problems, each a sentence that the importer prefixes with `FILE:LINE:`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROLES = ("system", "user", "assistant", "tool")
SHAREGPT_ROLES = {
    "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "model": "assistant",
    "system": "system", "tool": "tool", "function_response": "tool", "observation": "tool",
}


@dataclass
class Mapping:
    """What the importer decided about a file's shape; the import dialog shows it."""

    shape: str  # messages | sharegpt | alpaca | prompt-completion | preference | prompt
    kind: str
    fields: dict[str, str] = field(default_factory=dict)  # source field -> target field
    ignored: set[str] = field(default_factory=set)  # source columns that are dropped

    def describe(self) -> str:
        parts = [f"{self.shape} → {self.kind}"]
        if self.fields:
            parts.append(", ".join(f"{k} → {v}" for k, v in self.fields.items()))
        if self.ignored:
            parts.append("ignored: " + ", ".join(sorted(self.ignored)))
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"shape": self.shape, "kind": self.kind, "fields": self.fields, "ignored": sorted(self.ignored)}


_SHAPE_FIELDS = {
    "messages": {"messages": "messages"},
    "sharegpt": {"conversations": "messages", "from": "role", "value": "content"},
    "alpaca": {"instruction": "user turn", "input": "user turn (appended)", "output": "assistant turn"},
    "prompt-completion": {"prompt": "prompt", "completion": "completion"},
    "preference": {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected"},
    "prompt": {"prompt": "prompt", "answer": "answer", "tests": "tests"},
}
SHAPE_KIND = {"messages": "sft", "sharegpt": "sft", "alpaca": "sft", "prompt-completion": "sft",
               "preference": "preference", "prompt": "prompt"}
_USED = {
    "messages": {"messages"}, "sharegpt": {"conversations", "system"}, "alpaca": {"instruction", "input", "output", "system"},
    "prompt-completion": {"prompt", "completion"}, "preference": {"prompt", "chosen", "rejected"},
    "prompt": {"prompt", "answer", "tests"},
}


# The first shape with any of its keys in a record wins: preference rows have a "prompt" too,
# so the order matters.
_DETECT = (
    ("preference", ("chosen", "rejected")),
    ("messages", ("messages",)),
    ("sharegpt", ("conversations",)),
    ("alpaca", ("instruction", "output")),
    ("prompt-completion", ("completion",)),
    ("prompt", ("prompt",)),
)


def detect_shape(rec: dict[str, Any]) -> str | None:
    return next((shape for shape, keys in _DETECT if any(k in rec for k in keys)), None)


def new_mapping(shape: str) -> Mapping:
    return Mapping(shape, SHAPE_KIND[shape], dict(_SHAPE_FIELDS[shape]))


def shape_for_kind(rec: dict[str, Any], kind: str) -> str | None:
    """The shape to read `rec` as when the kind is forced (None: the row cannot be that kind)."""
    shape = detect_shape(rec)
    if shape is None:
        return None
    if SHAPE_KIND[shape] == kind:
        return shape
    if kind == "prompt" and "prompt" in rec:  # e.g. prompt/completion read as prompts with an answer
        return "prompt"
    return shape  # validation then says why it is not that kind


# ---- validation ---------------------------------------------------------------------------

def _check_messages(value: Any, what: str, problems: list[str], *, end_with_assistant: bool) -> list[dict] | None:
    if not isinstance(value, list):
        problems.append(f"{what} must be a list of {{role, content}} turns, got {type(value).__name__}")
        return None
    if not value:
        problems.append(f"{what} is empty")
        return None
    out = []
    for i, turn in enumerate(value, 1):
        if not isinstance(turn, dict):
            problems.append(f"{what} turn {i} must be an object with role and content, got {type(turn).__name__}")
            continue
        role, content = turn.get("role"), turn.get("content")
        if role is None or "content" not in turn:
            missing = "role" if role is None else "content"
            problems.append(f"{what} turn {i} has no {missing!r} field")
            continue
        if role not in ROLES:
            problems.append(f"{what} turn {i} has unknown role {role!r} (use one of {', '.join(ROLES)})")
            continue
        if not isinstance(content, str):
            problems.append(f"{what} turn {i} ({role}) content must be a string, got {type(content).__name__}")
            continue
        if not content.strip():
            problems.append(f"{what} turn {i} ({role}) is empty")
            continue
        out.append(turn if len(turn) == 2 else {"role": role, "content": content})  # drop extra keys
    if end_with_assistant and out and len(out) == len(value) and out[-1]["role"] != "assistant":
        problems.append(f"{what} does not end with an assistant turn (the last turn is {out[-1]['role']!r})")
    return out if len(out) == len(value) else None


def _check_text_or_messages(value: Any, what: str, problems: list[str], *, end_with_assistant: bool = False):
    if isinstance(value, list):
        return _check_messages(value, what, problems, end_with_assistant=end_with_assistant)
    if value is None:
        problems.append(f"missing field {what!r}")
        return None
    if not isinstance(value, str):
        problems.append(f"{what!r} must be a string or a list of turns, got {type(value).__name__}")
        return None
    if not value.strip():
        problems.append(f"{what!r} is empty")
        return None
    return value


def _sharegpt(rec: dict[str, Any], problems: list[str]) -> list[dict] | None:
    conv = rec.get("conversations")
    if not isinstance(conv, list):
        problems.append(f"'conversations' must be a list of {{from, value}} turns, got {type(conv).__name__}")
        return None
    msgs: list[Any] = []
    if isinstance(rec.get("system"), str) and rec["system"].strip():
        msgs.append({"role": "system", "content": rec["system"]})
    for i, turn in enumerate(conv, 1):
        if not isinstance(turn, dict):
            msgs.append(turn)
            continue
        who = turn.get("from")
        if who is None:
            problems.append(f"conversations turn {i} has no 'from' field")
            return None
        role = SHAREGPT_ROLES.get(str(who).lower())
        if role is None:
            problems.append(f"conversations turn {i} has unknown role {who!r} "
                            f"(ShareGPT roles: {', '.join(sorted(SHAREGPT_ROLES))})")
            return None
        msgs.append({"role": role, "content": turn.get("value")})
    return msgs


def map_record(rec: Any, shape: str) -> tuple[dict[str, Any] | None, list[str]]:
    """The row in its kind's canonical form, or the problems that stop it."""
    problems: list[str] = []
    if not isinstance(rec, dict):
        return None, [f"each record must be a JSON object, got {type(rec).__name__}"]
    row: dict[str, Any] = {}
    if shape == "messages":
        msgs = _check_messages(rec.get("messages"), "messages", problems, end_with_assistant=True)
        row = {"messages": msgs}
    elif shape == "sharegpt":
        raw = _sharegpt(rec, problems)
        if raw is not None:
            msgs = _check_messages(raw, "conversations", problems, end_with_assistant=True)
            row = {"messages": msgs}
    elif shape == "alpaca":
        ins, inp, out = rec.get("instruction"), rec.get("input", ""), rec.get("output")
        for name, val, required in (("instruction", ins, True), ("input", inp, False), ("output", out, True)):
            if val is None and required:
                problems.append(f"missing field {name!r} (Alpaca rows need instruction and output)")
            elif val is not None and not isinstance(val, str):
                problems.append(f"{name!r} must be a string, got {type(val).__name__}")
            elif required and not val.strip():
                problems.append(f"{name!r} is empty")
        if not problems:
            user = ins + ("\n\n" + inp if inp and inp.strip() else "")
            msgs = [{"role": "user", "content": user}, {"role": "assistant", "content": out}]
            if isinstance(rec.get("system"), str) and rec["system"].strip():
                msgs.insert(0, {"role": "system", "content": rec["system"]})
            row = {"messages": msgs}
    elif shape == "prompt-completion":
        p = _check_text_or_messages(rec.get("prompt"), "prompt", problems)
        c = _check_text_or_messages(rec.get("completion"), "completion", problems)
        if p is not None and c is not None and isinstance(p, list) != isinstance(c, list):
            problems.append("prompt and completion must both be strings or both be lists of turns")
        row = {"prompt": p, "completion": c}
    elif shape == "preference":
        implicit = "prompt" not in rec and isinstance(rec.get("chosen"), list)
        p = None if implicit else _check_text_or_messages(rec.get("prompt"), "prompt", problems)
        ch = _check_text_or_messages(rec.get("chosen"), "chosen", problems)
        rj = _check_text_or_messages(rec.get("rejected"), "rejected", problems)
        if ch is not None and rj is not None and ch == rj:
            problems.append("chosen is identical to rejected (the pair teaches nothing)")
        row = {"chosen": ch, "rejected": rj} if implicit else {"prompt": p, "chosen": ch, "rejected": rj}
    elif shape == "prompt":
        p = _check_text_or_messages(rec.get("prompt"), "prompt", problems)
        row = {"prompt": p}
        if rec.get("answer") is not None:
            if not isinstance(rec["answer"], str):
                problems.append(f"'answer' must be a string, got {type(rec['answer']).__name__}")
            row["answer"] = rec["answer"]
        if rec.get("tests") is not None:
            t = rec["tests"]
            if isinstance(t, str):
                t = [t]
            if not isinstance(t, list) or not all(isinstance(x, str) for x in t):
                problems.append("'tests' must be a string or a list of strings")
            row["tests"] = t
    else:
        problems.append(f"unknown shape {shape!r}")
    return (None, problems) if problems else (row, [])


def ignored_fields(rec: dict[str, Any], shape: str) -> set[str]:
    return {k for k in rec if k not in _USED[shape] and not k.startswith("__")}


# ---- text views of a row (search, stats, transcript) ----------------------------------------

def as_messages(row: dict[str, Any]) -> list[dict[str, str]]:
    """A row as a conversation: what the transcript panel and the token counter show."""
    if "messages" in row:
        return list(row["messages"])

    def turns(v, role):
        return list(v) if isinstance(v, list) else ([{"role": role, "content": v}] if v else [])

    msgs = turns(row.get("prompt"), "user")
    if "completion" in row:
        msgs += turns(row["completion"], "assistant")
    elif "chosen" in row:
        msgs += turns(row["chosen"], "assistant")
    elif row.get("answer"):
        msgs.append({"role": "assistant", "content": row["answer"]})
    return msgs


def row_text(row: dict[str, Any]) -> str:
    """All human-written text of a row, for full-text search and length counts."""
    parts = [m["content"] for m in as_messages(row)]
    if "rejected" in row:
        rj = row["rejected"]
        parts += [m["content"] for m in rj] if isinstance(rj, list) else [rj]
    return "\n".join(p for p in parts if isinstance(p, str))


def text_length(row: dict[str, Any]) -> int:
    """Characters of human text in a row (the length estimate before tokens are counted)."""
    msgs = row.get("messages")
    if msgs is not None:
        return sum(len(m["content"]) for m in msgs)
    return len(row_text(row))


def answer_texts(row: dict[str, Any]) -> list[str]:
    """The assistant-side texts of a row (for refusal and diversity checks)."""
    out = []
    for key in ("completion", "chosen", "rejected", "answer"):
        v = row.get(key)
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, list):
            out += [m["content"] for m in v if m.get("role") == "assistant"]
    out += [m["content"] for m in row.get("messages", []) if m.get("role") == "assistant"]
    return out


def summary(row: dict[str, Any], width: int = 120) -> tuple[str, str]:
    """(first user text, last answer text), shortened for a table cell."""
    msgs = as_messages(row)
    user = next((m["content"] for m in msgs if m["role"] == "user"), "")
    ans = next((m["content"] for m in reversed(msgs) if m["role"] == "assistant"), "")

    def short(s: str) -> str:
        s = " ".join(s.split())
        return s if len(s) <= width else s[: width - 1] + "…"

    return short(user), short(ans)

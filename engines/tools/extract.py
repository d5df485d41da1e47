"""Argument extractors: fill a tool's arguments from the query when the model is too small
to write a function call itself.

    extract_args("calculator", "what's 17.5% of 2,340?", schema)  # {"expression": "17.5% of 2,340"}
    extract_args("weather", "is it raining in New York?", schema)  # {"city": "New York"}

Each extractor is deterministic text work; `generate` (the chat model) is only asked for
what text cannot give, such as code for "run code to ...". An extractor that finds nothing
raises ExtractError naming the missing argument, which the orchestrator reports as the
tool's error instead of calling the tool with junk.
"""

from __future__ import annotations

import math
import re
from typing import Callable

from engines.tools.calculator import MAX_EXPRESSION_CHARS, CalculatorError, calculate

Generate = Callable[[list[dict], int], str]


class ExtractError(ValueError):
    """The query does not contain the argument the tool needs."""


_MATH_TOKEN = (r"(?:\d[\d,]*(?:\.\d+)?%?|\.\d+|[-+*/^×÷()x=]|\*\*|percent|of|plus|minus|times|divided by|"
               r"multiplied by|over|to the power of|squared|cubed|mod|sqrt|square root of|factorial|\s)")
_MATH_SPAN = re.compile(rf"(?:sqrt\s*\(|square root of|factorial\s*\(|\(|-?\d[\d,]*(?:\.\d+)?%?|\.\d)(?:{_MATH_TOKEN})*", re.I)


def calculator_expression(query: str) -> str:
    """The longest stretch of the query that the calculator can evaluate."""
    text = query.replace("–", "-")
    # "multiply 64 by 64", "add 3 and 4", "subtract 5 from 9", "divide 144 by 12"
    verbs = [(r"multiply ([\d.,]+) by ([\d.,]+)", r"\1 * \2"), (r"divide ([\d.,]+) by ([\d.,]+)", r"\1 / \2"),
             (r"add ([\d.,]+) (?:and|to) ([\d.,]+)", r"\1 + \2"), (r"subtract ([\d.,]+) from ([\d.,]+)", r"\2 - \1"),
             (r"sum of ([\d.,]+) and ([\d.,]+)", r"\1 + \2"), (r"multiply ([\d.,]+) and ([\d.,]+)", r"\1 * \2"),
             (r"(?<![\d.,])([\d.,]+%) (?:tip )?on (?:an? )?([\d.,]+)", r"\1 of \2")]  # (?<!): linear time
    for pat, rep in verbs:
        m = re.search(pat, text, re.I)
        if m:
            text = m.expand(rep)
            break
    candidates = []
    for m in _MATH_SPAN.finditer(text):
        span = m.group(0).strip().rstrip("=?").strip()
        span = re.sub(r"(?<!\s)\s+(of|plus|minus|times|over|mod|x)\s*$", "", span, flags=re.I)
        if span and re.search(r"\d", span):
            candidates.append(span)
    for span in sorted(candidates, key=len, reverse=True):
        trimmed = span[:MAX_EXPRESSION_CHARS].rstrip()  # the calculator reads no more
        while trimmed:
            try:
                calculate(trimmed)
                return trimmed
            except CalculatorError:
                trimmed = trimmed[:-1].rstrip()
    raise ExtractError(f"no arithmetic expression found in {query!r}")


_CODE_FENCE = re.compile(r"```(?:python|py)?\s*\n?(.*?)```", re.S)
_INLINE = re.compile(r"`([^`\n]+)`")
_AFTER_COLON = re.compile(r"(?:execute|run|python)(?: this| the following)?(?: code| python| snippet)?\s*:\s*(.+)$", re.I | re.S)


def python_code(query: str, generate: Generate | None = None) -> str:
    """Code from a fence, inline backticks or "run this: <code>"; otherwise the model writes it."""
    for rx in (_CODE_FENCE, _INLINE, _AFTER_COLON):
        m = rx.search(query)
        if m and m.group(1).strip():
            code = m.group(1).strip().replace("\\n", "\n")
            try:
                compile(code, "<query>", "exec")
                return code
            except (SyntaxError, ValueError, RecursionError, MemoryError):  # NUL bytes, absurd nesting
                pass
    if generate is None:
        raise ExtractError("no code in the request and no model to write it; put the code in ``` fences")
    prompt = ("Write a short Python 3 program that does the following and prints the result. "
              "Reply with only the code in a ```python block.\n\nTask: " + query)
    reply = generate([{"role": "user", "content": prompt}], 256)
    m = _CODE_FENCE.search(reply + ("```" if reply.count("```") % 2 else ""))
    code = (m.group(1) if m else reply).strip()
    try:
        compile(code, "<model>", "exec")
    except SyntaxError as e:
        raise ExtractError(f"the model's code does not parse ({e.msg} on line {e.lineno})") from None
    except (ValueError, RecursionError, MemoryError) as e:
        raise ExtractError(f"the model's code does not parse ({type(e).__name__})") from None
    return code


_SEARCH_LEAD = re.compile(
    r"^(?:please\s+)?(?:what (?:does|do|did) (?:our|the|my) [\w\s-]{0,30}? (?:say|mention|tell us) (?:about|regarding|on)"
    r"|according to (?:our|the|my) [\w\s-]{0,30}?,|search (?:the|our|my) [\w\s-]{0,30}? for|look up|find)\s+",
    re.I,
)


def search_query(query: str) -> str:
    q = _SEARCH_LEAD.sub("", query.strip()).strip(" ?.!")
    return q or query.strip(" ?.!")


# "in Paris", "to Glasgow", "for Rio de Janeiro": capitalised words, lower-case particles between them
_PLACE = re.compile(r"\b(?:in|for|at|of|near|to)\s+([A-Z][\w'-]*(?:\s+(?:(?:de|da|do|del|di|la|le|van|von|upon)\s+)?[A-Z][\w'-]*)*)")
_PLACE_KEYS = {"city", "location", "place", "town", "where", "q"}


def http_args(query: str, schema: dict, generate: Generate | None = None) -> dict:
    """Arguments for a user-defined HTTP tool: places from "in <Capitalised Words>", numbers
    for numeric fields, and the model (when given) for whatever is left that is required."""
    props = schema.get("properties", {})
    args: dict = {}
    for name, spec in props.items():
        typ = spec.get("type", "string")
        if name.lower() in _PLACE_KEYS or "city" in name.lower():
            m = _PLACE.search(query)
            if m:
                args[name] = m.group(1)
        elif typ in ("number", "integer"):
            m = re.search(r"-?\d+(?:\.\d+)?", query)
            if m:
                value = float(m.group(0))
                if not math.isfinite(value):  # 400 digits overflow a float; no API takes such a number
                    raise ExtractError(f"the number {m.group(0)[:20]}… in the request is too large for {name!r}")
                args[name] = int(value) if typ == "integer" else value
        elif "enum" in spec:
            for option in spec["enum"]:
                if str(option).lower() in query.lower():
                    args[name] = option
    missing = [r for r in schema.get("required", []) if r not in args]
    if missing and generate is not None:
        import json

        prompt = (f"Extract the value of {missing[0]!r} from this request. Reply with the value only.\n"
                  f"Request: {query}\nValue:")
        value = generate([{"role": "user", "content": prompt}], 16).strip().strip('"').splitlines()
        if value and value[0].strip():
            args[missing[0]] = value[0].strip()
            missing = missing[1:]
        _ = json  # values are plain strings; schema validation coerces numbers later
    if missing:
        raise ExtractError(f"could not find {', '.join(repr(m) for m in missing)} in the request {query!r}")
    return args


def extract_args(tool: str, query: str, schema: dict, generate: Generate | None = None) -> dict:
    if tool == "calculator":
        return {"expression": calculator_expression(query)}
    if tool == "python":
        return {"code": python_code(query, generate)}
    if tool == "search":
        return {"query": search_query(query)}
    return http_args(query, schema, generate)

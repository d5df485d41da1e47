"""Grammar-constrained function calls through llama-cpp-python (JSON schema -> GBNF).

When the chat model can write function calls (an instruct model), the arguments come from
the model itself, but sampling is constrained by a grammar compiled from the tool's JSON
schema, so the output always parses and always has the required fields:

    complete = llama_completer(llm)          # or the chat host's own (prompt, schema, n) -> text
    args = constrained_arguments(complete, tool_name, description, schema, query)

A completer is any `complete(prompt, json_schema, max_tokens) -> str` that samples under
`LlamaGrammar.from_json_schema(json_schema)`; `llama_completer` makes one from a Llama owned
by the calling thread (a Llama is not thread-safe). Small base models still produce valid
JSON this way, but often with the wrong values, which is why the orchestrator uses the
per-tool extractors for them (engines/tools/extract.py).
"""

from __future__ import annotations

import json
from typing import Callable

Completer = Callable[[str, dict, int], str]


# llama.cpp spells a length bound as nested optional repeats: {"maxLength": 2000} (the calculator's
# expression) becomes a rule 2,000 levels deep, and sampling under it crashed the model host with
# SIGSEGV. Bounds above this are left out of the grammar; the arguments are still validated against
# the tool's full schema after sampling (engines/tools/registry.py), and max_tokens caps the length.
GRAMMAR_MAX_BOUND = 64


def grammar_schema(schema):
    """The schema the grammar is built from: the same, without large length / count bounds."""
    if isinstance(schema, dict):
        out = {}
        for k, v in schema.items():
            if k in ("maxLength", "maxItems", "maxProperties", "minLength", "minItems") and isinstance(v, int) and v > GRAMMAR_MAX_BOUND:
                continue
            out[k] = grammar_schema(v)
        return out
    if isinstance(schema, list):
        return [grammar_schema(v) for v in schema]
    return schema


def grammar_for(schema: dict):
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_json_schema(json.dumps(grammar_schema(schema)), verbose=False)


def llama_completer(llm) -> Completer:
    def complete(prompt: str, schema: dict, max_tokens: int) -> str:
        out = llm.create_completion(prompt, grammar=grammar_for(schema), max_tokens=max_tokens, temperature=0.0)
        return out["choices"][0]["text"]

    return complete


def function_call_prompt(tool: str, description: str, schema: dict, query: str) -> str:
    return (
        f"You call the tool `{tool}`: {description}\n"
        f"Its arguments follow this JSON schema: {json.dumps(schema)}\n"
        f"Write the JSON arguments for this request.\n\nRequest: {query}\nArguments: "
    )


def constrained_arguments(complete: Completer, tool: str, description: str, schema: dict, query: str,
                          max_tokens: int = 128) -> dict:
    """The model's arguments for `tool`, sampled greedily under the schema's grammar."""
    text = complete(function_call_prompt(tool, description, schema, query), schema, max_tokens)
    try:
        args = json.loads(text)
    except json.JSONDecodeError as e:  # only when max_tokens cut the object short
        raise ValueError(f"the model's {tool} call was cut off after {max_tokens} tokens: {text[:80]!r}") from e
    except RecursionError:  # thousands of nested brackets: not arguments
        raise ValueError(f"the model's {tool} call is nested too deeply to be arguments: {text[:80]!r}") from None
    if not isinstance(args, dict):
        raise ValueError(f"the model's {tool} call is not a JSON object: {text[:80]!r}")
    return args

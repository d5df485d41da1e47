"""Grammar-constrained function calls through llama-cpp-python (JSON schema -> GBNF).

When the chat model can write function calls (an instruct model), the arguments come from
the model itself, but sampling is constrained by a grammar compiled from the tool's JSON
schema, so the output always parses and always has the required fields:

    args = constrained_arguments(llm, tool_name, description, schema, query)

`llm` is a llama_cpp.Llama owned by the calling thread (a Llama is not thread-safe).
Small base models still produce valid JSON this way, but often with the wrong values, which
is why the orchestrator uses the per-tool extractors for them (engines/tools/extract.py).
"""

from __future__ import annotations

import json


def grammar_for(schema: dict):
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)


def function_call_prompt(tool: str, description: str, schema: dict, query: str) -> str:
    return (
        f"You call the tool `{tool}`: {description}\n"
        f"Its arguments follow this JSON schema: {json.dumps(schema)}\n"
        f"Write the JSON arguments for this request.\n\nRequest: {query}\nArguments: "
    )


def constrained_arguments(llm, tool: str, description: str, schema: dict, query: str,
                          max_tokens: int = 128) -> dict:
    """The model's arguments for `tool`, sampled greedily under the schema's grammar."""
    out = llm.create_completion(
        function_call_prompt(tool, description, schema, query),
        grammar=grammar_for(schema), max_tokens=max_tokens, temperature=0.0,
    )
    text = out["choices"][0]["text"]
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:  # only when max_tokens cut the object short
        raise ValueError(f"the model's {tool} call was cut off after {max_tokens} tokens: {text[:80]!r}") from e

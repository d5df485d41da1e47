"""Property-based tests of the tool-argument parsers: the per-tool extractors (extract.py) and
the grammar-constrained function-call reader (function_call.py).

Whatever the query, the schema or the model's text (random shapes, unicode, huge and empty
values, wrong types), a parser returns arguments of the expected type or raises a ValueError
with a message (the orchestrator shows it as the tool's error); never another exception."""

from __future__ import annotations

import json

from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from engines.tools.extract import ExtractError, calculator_expression, extract_args, http_args, python_code, search_query
from engines.tools.function_call import constrained_arguments

SETTINGS = settings(max_examples=200, deadline=None)

text = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["", " ", "```python\n```", "```python\nprint(1)\n```", "`x`", "run this: 1 +", "run this: (",
                     "what is 2 ** 99999?", "17.5% of 2,340", "factorial(5000)", "sqrt(-1)", "1/0", "10**10**10",
                     "what's the weather in New York?", "in Rio de Janeiro", "\x00", "é🙂", "(" * 500 + "1" + ")" * 500]),
    st.builds(lambda c, n: c * n, st.sampled_from(["1+", "(", "9", "a", "[", "{\"a\":", "🙂", "`"]),
              st.integers(1_000, 200_000)),  # huge
    st.builds(lambda a, b: f"{a} {b}", st.text(max_size=20), st.from_regex(r"-?\d{1,30}(\.\d{1,20})?(e\d{1,4})?", fullmatch=True)),
)
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**80), 2**80), st.floats(allow_nan=True), st.text(max_size=10))
prop_spec = st.one_of(
    st.fixed_dictionaries({}, optional={"type": st.sampled_from(["string", "number", "integer", "boolean", "array", "object",
                                                                 "nonsense"]),
                                        "enum": st.lists(json_scalar, max_size=4),
                                        "description": st.text(max_size=10)}),
)
schema = st.fixed_dictionaries(
    {"type": st.just("object"),
     "properties": st.dictionaries(st.sampled_from(["city", "location", "q", "n", "count", "unit", "City Name", ""]) | st.text(max_size=8),
                                   prop_spec, max_size=4)},
).flatmap(lambda s: st.builds(lambda req: {**s, "required": req},
                              st.lists(st.sampled_from(sorted(s["properties"]) or ["missing"]), max_size=3, unique=True)))


def _outcome(fn, *args) -> object:
    try:
        out = fn(*args)
    except ValueError as e:  # ExtractError and CalculatorError are ValueErrors
        assert str(e).strip()
        event(f"{fn.__name__}: {type(e).__name__}")
        return None
    event(f"{fn.__name__}: parsed")
    return out


@SETTINGS
@given(query=text)
@example(query="1+" * 1500 + "1")  # found: RecursionError out of the calculator (too deep to evaluate)
@example(query="9" * 20_000)  # found: 26 s of quadratic regex matching before any answer
@example(query="run this: `print(1)\x00`")  # compile() raises ValueError on NUL bytes
def test_calculator_python_and_search_extractors_parse_or_refuse(query):
    expr = _outcome(calculator_expression, query)
    assert expr is None or (isinstance(expr, str) and expr)
    code = _outcome(python_code, query)
    assert code is None or isinstance(code, str)
    assert isinstance(search_query(query), str)


@SETTINGS
@given(query=text, schema=schema, reply=st.one_of(st.text(max_size=30), text))
@example(query="9" * 99_999, schema={"type": "object", "properties": {"n": {"type": "integer"}}, "required": []},
         reply="")  # found: OverflowError converting the float infinity to an integer
def test_http_extractor_parses_or_names_the_missing_argument(query, schema, reply):
    args = _outcome(http_args, query, schema)
    if args is not None:
        assert isinstance(args, dict) and set(schema["required"]) <= set(args)
    with_model = _outcome(http_args, query, schema, lambda _msgs, _n: reply)
    assert with_model is None or isinstance(with_model, dict)
    for tool in ("calculator", "python", "search", "weather"):
        out = _outcome(extract_args, tool, query, schema, lambda _msgs, _n: reply)
        assert out is None or isinstance(out, dict)


model_text = st.one_of(
    st.text(max_size=80),
    st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                 max_leaves=10).map(json.dumps),
    st.builds(lambda n, c: c * n, st.integers(1_000, 100_000), st.sampled_from(["[", "{\"a\":", "[[", "\""])),  # deep or huge
    st.sampled_from(["", "{", "{}", "[]", "null", "NaN", '{"a": NaN}', '{"a": 1e999}', '{"a": "\\ud800"}', "{} trailing"]),
)


@SETTINGS
@given(reply=model_text, schema=schema, query=st.text(max_size=30))
@example(reply="[" * 5000, schema={"type": "object", "properties": {}, "required": []}, query="")  # found: RecursionError
def test_function_call_reader_returns_an_object_or_says_what_the_model_wrote(reply, schema, query):
    seen = {}

    def complete(prompt, sch, max_tokens):
        seen["prompt"] = prompt
        return reply

    args = _outcome(constrained_arguments, complete, "tool", "does things", schema, query)
    assert args is None or isinstance(args, dict)
    assert query in seen["prompt"]


def test_extract_errors_are_value_errors():
    assert issubclass(ExtractError, ValueError)

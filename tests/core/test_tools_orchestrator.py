"""One chat turn with tools: the "Done means" queries route, call, log and cite."""

from __future__ import annotations

import pytest

from engines.tools.http_tool import HttpToolSpec
from studio.tools.orchestrator import run_tools_for_turn, split_requests
from studio.tools.service import tools_service

from tests.helpers.weather_server import serve_weather

ALL = ["calculator", "python", "search", "weather"]


@pytest.fixture
def tooled(studio, tmp_path):
    (tmp_path / "handbook.md").write_text(
        "# Employee Handbook\n\n## Remote work\n\nStaff may work remotely up to three days a week with "
        "their manager's approval.\n\n## Expenses\n\nReceipts are due within 30 days.\n")
    svc = tools_service(studio)
    svc.kb_add([str(tmp_path / "handbook.md")])
    with serve_weather() as (base, requests):
        svc.add_http(HttpToolSpec(name="weather", description="Current weather for a city",
                                  url=base + "/weather?city={city}", fields=["temp_c", "conditions"],
                                  schema={"type": "object", "properties": {"city": {"type": "string"}},
                                          "required": ["city"]}))
        yield studio, requests


def no_model(messages, max_tokens):
    raise AssertionError("the model should not be needed for this turn")


def test_percentage_question_calls_the_calculator_and_the_context_cites_it(tooled):
    studio, _ = tooled
    turn = run_tools_for_turn(studio, "what's 17.5% of 2,340?", ALL, no_model)
    [call] = turn.calls
    assert (call["tool"], call["result"]["result"], call["error"]) == ("calculator", "409.5", None)
    assert call["confidence"] > 0.5 and call["duration_s"] >= 0
    assert "[1] calculator: 17.5% of 2,340 = 409.5" in turn.context
    assert "409.5 [1]" in turn.summary


def test_run_code_request_calls_python_with_the_models_code(tooled):
    studio, _ = tooled

    def model(messages, max_tokens):
        return "```python\nprint(sum(i * i for i in range(1, 6)))\n```"

    turn = run_tools_for_turn(studio, "run code to add up the squares of 1 to 5", ALL, model)
    [call] = turn.calls
    assert call["tool"] == "python" and call["result"]["stdout"] == "55\n"
    assert "[1] python printed: 55" in turn.context


def test_handbook_question_searches_the_kb_and_cites_the_document(tooled):
    studio, _ = tooled
    turn = run_tools_for_turn(studio, "what does our handbook say about remote work?", ALL, no_model)
    [call] = turn.calls
    assert call["tool"] == "search" and call["args"] == {"query": "remote work"}
    assert "[1] handbook.md (passage 1): " in turn.context and "three days a week" in turn.context


def test_weather_question_calls_the_configured_http_tool(tooled):
    studio, requests = tooled
    turn = run_tools_for_turn(studio, "is it snowing in Oslo right now?", ALL, no_model)
    [call] = turn.calls
    assert call["tool"] == "weather" and call["args"] == {"city": "Oslo"}
    assert call["result"]["data"] == {"temp_c": -3, "conditions": "snow"}
    assert requests == ["/weather?city=Oslo"]
    assert "[1] weather(city=Oslo)" in turn.context


def test_small_talk_calls_nothing_and_the_decision_is_still_logged(tooled):
    studio, _ = tooled
    assert run_tools_for_turn(studio, "hi! how are you today?", ALL, no_model) is None
    last = tools_service(studio).decisions(1)[0]
    assert last["tool"] is None and last["top"] == "none" and 0 < last["confidence"] <= 1
    assert last["classifier_version"] == 1 and last["enabled"] == sorted(ALL)


def test_a_failing_tool_is_reported_once_to_the_model_and_the_user(tooled):
    studio, requests = tooled
    turn = run_tools_for_turn(studio, "what's the weather in Atlantis?", ALL, no_model)
    [call] = turn.calls
    assert call["error"] and "HTTP 404" in call["error"]
    assert requests == ["/weather?city=Atlantis"]  # one call, no retry
    assert "FAILED" in turn.context and "do not make up" in turn.context
    assert "failed" in turn.summary


def test_disabled_tools_are_not_called(tooled):
    studio, requests = tooled
    assert run_tools_for_turn(studio, "is it snowing in Oslo right now?", ["calculator"], no_model) is None
    assert requests == []


def test_several_requests_in_one_turn_make_several_calls_up_to_the_limit(tooled):
    studio, _ = tooled
    q = "What's 12 * 12? Is it snowing in Oslo? What does the handbook say about expenses?"
    turn = run_tools_for_turn(studio, q, ALL, no_model)
    assert [c["tool"] for c in turn.calls] == ["calculator", "weather", "search"]
    assert "[1] calculator" in turn.context and "[2] weather" in turn.context and "[3] handbook.md" in turn.context
    limited = run_tools_for_turn(studio, q, ALL, no_model, max_calls=1)
    assert [c["tool"] for c in limited.calls] == ["calculator"]


def test_split_requests_keeps_one_question_whole():
    assert split_requests("what's 17.5% of 2,340?") == ["what's 17.5% of 2,340?"]
    assert split_requests("A? B; C") == ["A?", "B", "C"]


@pytest.mark.slow
def test_a_capable_model_fills_arguments_through_the_schema_grammar(tooled, gemma_gguf):
    """With a completer, the arguments come from the model under the tool's GBNF grammar: the
    call always parses and carries the required field (the base model picks the value)."""
    from engines.inference.llama_params import open_llama

    from engines.tools.function_call import llama_completer

    studio, requests = tooled
    llm = open_llama(model_path=str(gemma_gguf), n_ctx=512, n_threads=2, verbose=False)
    turn = run_tools_for_turn(studio, "is it snowing in Oslo right now?", ALL, no_model,
                              constrained=llama_completer(llm))
    [call] = turn.calls
    assert call["tool"] == "weather"
    assert set(call["args"]) == {"city"} and isinstance(call["args"]["city"], str)
    assert len(requests) == 1  # the grammar-made call reached the server once

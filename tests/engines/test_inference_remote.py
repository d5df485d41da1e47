"""The OpenAI-compatible remote backend against a real HTTP server on 127.0.0.1, and the
reasoning loop (scaffold, budget forcing, the minimum) driven through it with scripted text."""

from __future__ import annotations

import socket
import threading

import pytest

from engines.inference.backend import BackendError, CompletionParams, Done, Piece, Sampling
from engines.inference.remote import OpenAIBackend
from engines.inference.turn import SCAFFOLD, ThinkingBudget, TurnRequest, run_turn
from engines.templates import get_template
from tests.helpers.openai_stub import StubServer

CHATML = get_template("chatml")


def _req(mode="fast", **kw):
    return TurnRequest(
        messages=[{"role": "user", "content": "What is 6 * 7?"}],
        template=CHATML.inference,
        stop=CHATML.stop,
        mode=mode,
        sampling=Sampling(temperature=0.0),
        **kw,
    )


def test_remote_backend_streams_pieces_and_reports_usage():
    with StubServer(lambda p: "The answer is 42.<|im_end|>ignored") as srv:
        b = OpenAIBackend(srv.url, model="stub-model")
        evs = list(b.complete("Q: 6*7?\nA:", CompletionParams(max_tokens=50, stop=("<|im_end|>",))))
    pieces = [e for e in evs if isinstance(e, Piece)]
    done = evs[-1]
    assert len(pieces) > 3  # streamed, not one blob
    assert "".join(p.text for p in pieces) == "The answer is 42."
    assert isinstance(done, Done) and done.finish_reason == "stop"
    assert done.completion_tokens == len(pieces)
    assert done.prompt_tokens > 0
    assert srv.requests[0]["stream"] is True and srv.requests[0]["stop"] == ["<|im_end|>"]


def test_stop_closes_the_stream_within_one_event():
    long_text = " ".join(f"w{i}" for i in range(200))
    with StubServer(lambda p: long_text, delay_s=0.01) as srv:
        b = OpenAIBackend(srv.url)
        seen = []
        stop = threading.Event()
        done = None
        for ev in b.complete("x", CompletionParams(max_tokens=200), should_stop=stop.is_set):
            if isinstance(ev, Piece):
                seen.append(ev)
                if len(seen) == 3:
                    stop.set()
            else:
                done = ev
    assert len(seen) == 3
    assert done.finish_reason == "cancelled"
    assert srv.events_sent < 50  # the server noticed the closed connection and stopped early


def test_unreachable_server_names_the_url_and_what_to_do():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    b = OpenAIBackend(f"http://127.0.0.1:{port}", model="m")
    with pytest.raises(BackendError) as e:
        list(b.complete("hi", CompletionParams(max_tokens=4)))
    assert f"127.0.0.1:{port}" in e.value.message
    assert "running" in e.value.hint


def test_http_error_from_server_is_reported_with_status_and_detail():
    with StubServer(lambda p: "x") as srv:
        b = OpenAIBackend(srv.url, model="no-such-model")
        with pytest.raises(BackendError, match="HTTP 404.*no-such-model"):
            list(b.complete("hi", CompletionParams(max_tokens=4)))


def test_bad_url_is_refused():
    with pytest.raises(BackendError, match="not an http"):
        OpenAIBackend("ftp://example")


def test_fast_mode_parses_native_thinking_out_of_the_stream():
    with StubServer(lambda p: "<think>6*7 is 42</think>42<|im_end|>") as srv:
        res = run_turn(OpenAIBackend(srv.url), _req("fast"))
    assert res.thinking == "6*7 is 42"
    assert res.answer == "42"
    assert res.stats["hidden_tokens"] > 0 and res.stats["visible_tokens"] > 0


def test_budget_forcing_closes_the_thinking_at_the_budget_and_makes_the_model_answer():
    def script(prompt: str) -> str:
        if prompt.endswith("</think>\n\n"):
            return "Final: 42<|im_end|>"
        return " ".join(["hmm"] * 100)  # a model that would think forever

    events = []
    with StubServer(script) as srv:
        res = run_turn(OpenAIBackend(srv.url), _req("reasoning", budget=ThinkingBudget(max_tokens=7)), events.append)
        think_req, answer_req = srv.requests
    assert res.budget_forced
    assert res.stats["hidden_tokens"] == 7
    assert think_req["max_tokens"] == 7
    assert answer_req["prompt"].endswith("</think>\n\n")
    assert res.answer == "Final: 42"
    assert res.thinking.split() == ["hmm"] * 7
    assert SCAFFOLD in think_req["prompt"]  # a model that does not think natively gets the scaffold
    assert any(e["type"] == "status" and "budget" in e["text"] for e in events)
    assert res.stats["ttft_s"] > 0


def test_minimum_thinking_turns_an_early_close_into_wait():
    def script(prompt: str) -> str:
        if prompt.endswith("</think>\n\n"):
            return "42<|im_end|>"
        return "short thought</think>"

    with StubServer(script) as srv:
        res = run_turn(OpenAIBackend(srv.url), _req("reasoning", budget=ThinkingBudget(max_tokens=50, min_tokens=12)))
        prompts = [r["prompt"] for r in srv.requests]
    # each attempt thinks 4 tokens ("shor", "t", " thou", "ght"): two Waits reach the minimum of 12
    assert res.waits == 2
    assert res.stats["hidden_tokens"] == 12
    assert "Wait," in res.thinking
    assert prompts[1].endswith("short thought\nWait,")  # the model goes on from "Wait,"
    assert not res.budget_forced and res.answer == "42"


def test_native_thinker_gets_no_scaffold_and_fast_mode_skips_thinking():
    with StubServer(lambda p: "ok<|im_end|>") as srv:
        run_turn(OpenAIBackend(srv.url), _req("reasoning", native_thinking=True, budget=ThinkingBudget(4)))
        run_turn(OpenAIBackend(srv.url), _req("fast", native_thinking=True))
        think_prompt, _answer, fast_prompt = (r["prompt"] for r in srv.requests)
    assert SCAFFOLD not in think_prompt and think_prompt.endswith("<think>\n")
    assert fast_prompt.endswith("<think>\n\n</think>\n\n")

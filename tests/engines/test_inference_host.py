"""The model host child process on the real gemma-3-270m GGUF: streaming, model and prefix
reuse, stop within one token, clear errors for bad files, and surviving a crash of the child."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from engines.inference.backend import BackendError, CompletionParams, Done, Piece, Sampling
from engines.inference.host import LocalBackend, ModelSpec
from engines.inference.turn import ThinkingBudget, TurnRequest, run_turn
from engines.templates import get_template

pytestmark = pytest.mark.slow
GREEDY = Sampling(temperature=0.0)


@pytest.fixture(scope="module")
def host(gemma_gguf):
    b = LocalBackend(ModelSpec(str(gemma_gguf), n_ctx=1024))
    yield b
    b.close()


def _collect(backend, prompt, n, should_stop=None):
    evs = list(backend.complete(prompt, CompletionParams(max_tokens=n, sampling=GREEDY), should_stop))
    return "".join(e.text for e in evs if isinstance(e, Piece)), evs[-1]


def test_host_streams_tokens_and_reuses_the_model_and_the_prompt_prefix(host):
    prompt = "The three primary colours are red, yellow and"
    text1, done1 = _collect(host, prompt, 6)
    pid = host.pid
    assert isinstance(done1, Done) and done1.finish_reason == "length"
    assert done1.completion_tokens == 6 and text1.strip()
    # the follow-up turn extends the prompt: only the new tokens are evaluated
    text2, done2 = _collect(host, prompt + text1 + " Also,", 4)
    assert host.pid == pid and pid != os.getpid()  # same child, model still loaded
    assert done2.cached_tokens >= done1.prompt_tokens - 1
    assert done2.prompt_tokens > done1.prompt_tokens


def test_stop_ends_generation_within_one_token(host):
    stop = threading.Event()
    pieces = []
    done = None
    for ev in host.complete("Count: one, two, three,", CompletionParams(max_tokens=200, sampling=GREEDY), stop.is_set):
        if isinstance(ev, Piece):
            pieces.append(ev)
            stop.set()  # Stop pressed as soon as the first text shows
        else:
            done = ev
    assert done.finish_reason == "cancelled"
    assert done.completion_tokens <= sum(p.tokens for p in pieces) + 1
    assert done.completion_tokens <= 3


def test_stop_during_prompt_processing_gives_no_tokens_and_the_host_stays_usable(host):
    long_prompt = "The quick brown fox jumps over the lazy dog. " * 80  # ~800 tokens to evaluate
    evs = list(host.complete(long_prompt, CompletionParams(max_tokens=50, sampling=GREEDY), lambda: True))
    done = evs[-1]
    assert done.finish_reason == "cancelled" and done.completion_tokens == 0
    assert not [e for e in evs if isinstance(e, Piece) and e.text]
    _text, after = _collect(host, "Hello", 2)  # an aborted decode leaves no broken state behind
    assert after.finish_reason == "length" and after.completion_tokens == 2


def test_budget_forcing_on_the_real_model(host):
    tpl = get_template("gemma")
    req = TurnRequest(
        messages=[{"role": "user", "content": "What is 12 + 30?"}],
        template=tpl.inference, stop=tpl.stop, mode="reasoning", max_tokens=4,
        budget=ThinkingBudget(max_tokens=6), sampling=GREEDY,
    )
    res = run_turn(host, req)
    # the base model never closes a <think> block by itself within 6 tokens: forced
    assert res.budget_forced and res.stats["hidden_tokens"] == 6
    assert 0 < res.stats["visible_tokens"] <= 4
    assert res.stats["prompt_tokens"] > 20


def test_schema_constrained_completion_always_parses(host):
    import json

    schema = {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}
    text = host.complete_json("Write the arithmetic as JSON. Request: what is 6 times 7?\nArguments: ", schema, 48)
    args = json.loads(text)  # a base model's values may be odd, but the grammar makes it parse
    assert isinstance(args, dict) and isinstance(args["expression"], str)


def test_missing_and_corrupt_model_files_get_clear_errors(tmp_path, host):
    with pytest.raises(BackendError, match="does not exist") as e:
        list(host.complete("x", CompletionParams(4), spec=ModelSpec(str(tmp_path / "nope.gguf"))))
    assert "re-import" in e.value.hint
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(BackendError, match="not a GGUF file"):
        list(host.complete("x", CompletionParams(4), spec=ModelSpec(str(junk))))
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(b"GGUF" + b"\x03\0\0\0" + b"\xff" * 64)
    with pytest.raises(BackendError, match="could not load") as e:
        list(host.complete("x", CompletionParams(4), spec=ModelSpec(str(truncated))))
    assert "corrupt" in e.value.hint
    _text, done = _collect(host, "Hello", 1)  # the host still serves the good model
    assert done.completion_tokens == 1


def test_a_crashed_host_is_reported_and_the_next_request_starts_a_new_one(gemma_gguf):
    b = LocalBackend(ModelSpec(str(gemma_gguf), n_ctx=512))
    try:
        _collect(b, "Hi", 1)
        first = b.pid
        with pytest.raises(BackendError, match="stopped unexpectedly") as e:
            for ev in b.complete("Tell me a long story:", CompletionParams(max_tokens=200, sampling=GREEDY)):
                os.kill(first, signal.SIGKILL)  # a native crash, as far as the parent can tell
        assert "fresh host" in e.value.hint
        _text, done = _collect(b, "Hi", 1)
        assert done.completion_tokens == 1 and b.pid != first
    finally:
        b.close()

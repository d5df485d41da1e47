"""`studio serve`: the official `openai` client against the real server on 127.0.0.1, over the
real gemma-3-270m in the model host; and the studio's own remote backend chatting through it."""

from __future__ import annotations

import json

import openai
import pytest

from studio.errors import UserError
from studio.serve import StudioServer
from studio.serve.api import ApiError, parse_chat_request

MODEL = "gemma-3-270m (base)"


# ---- the dialect, without a model ---------------------------------------------------------------
def test_reasoning_effort_and_thinking_budget_select_the_studio_modes():
    msgs = [{"role": "user", "content": "hi"}]
    assert parse_chat_request({"model": "m", "messages": msgs}).mode == "fast"
    assert parse_chat_request({"model": "m", "messages": msgs, "reasoning_effort": "none"}).mode == "fast"
    low = parse_chat_request({"model": "m", "messages": msgs, "reasoning_effort": "low"})
    high = parse_chat_request({"model": "m", "messages": msgs, "reasoning_effort": "high"})
    assert (low.mode, low.settings["think_budget"], high.settings["think_budget"]) == ("reasoning", 256, 4096)
    own = parse_chat_request({"model": "m", "messages": msgs, "thinking": {"budget_tokens": 77}})
    assert (own.mode, own.settings["think_budget"]) == ("reasoning", 77)
    assert parse_chat_request({"model": "m", "messages": msgs, "thinking": {"type": "disabled"}}).mode == "fast"
    with pytest.raises(ApiError, match="reasoning_effort"):
        parse_chat_request({"model": "m", "messages": msgs, "reasoning_effort": "extreme"})


def test_messages_become_alternating_turns_with_the_system_prompt_apart():
    req = parse_chat_request({"model": "m", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "a"}, {"role": "user", "content": [{"type": "text", "text": "b"}]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function",
                                                               "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "1", "content": "42"}]})
    assert req.settings["system_prompt"] == "Be brief."
    assert [m["role"] for m in req.history] == ["user", "assistant", "user"]
    assert req.history[0]["content"] == "a\n\nb" and "42" in req.history[-1]["content"] and req.answered_tool
    with pytest.raises(ApiError, match="last message"):
        parse_chat_request({"model": "m", "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})


def test_a_key_is_required_off_loopback(studio):
    with pytest.raises(UserError, match="without a key"):
        StudioServer(studio, host="0.0.0.0", port=0)


# ---- the real server -------------------------------------------------------------------------------
@pytest.fixture
def server(studio_with_model):
    srv = StudioServer(studio_with_model, port=0).start()
    yield srv
    srv.close()


def client(srv, key="unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=srv.url + "/v1", api_key=key, max_retries=0, timeout=120)


@pytest.mark.slow
def test_the_openai_client_lists_models_and_streams_answers_with_reasoning_and_usage(server):
    c = client(server)
    assert MODEL in [m.id for m in c.models.list()]

    r = c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "The capital of France is"}],
                                  max_tokens=8, temperature=0)
    assert r.choices[0].message.content and r.usage.completion_tokens >= 1
    assert r.usage.completion_tokens_details.reasoning_tokens == 0 and r.usage.prompt_tokens > 5

    stream = c.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "What is 12 + 30?"}], max_tokens=8, temperature=0,
        stream=True, stream_options={"include_usage": True}, extra_body={"thinking": {"budget_tokens": 12}})
    thinking, answer, use, finish = [], [], None, None
    for ch in stream:
        if ch.usage:
            use = ch.usage
        for choice in ch.choices:
            d = choice.delta.model_dump()
            thinking.append(d.get("reasoning_content") or "")
            answer.append(d.get("content") or "")
            finish = choice.finish_reason or finish
    assert "".join(thinking).strip() and finish in ("stop", "length")
    assert 1 <= use.completion_tokens_details.reasoning_tokens <= 12  # the budget holds
    assert use.completion_tokens >= use.completion_tokens_details.reasoning_tokens
    assert use.total_tokens == use.prompt_tokens + use.completion_tokens


@pytest.mark.slow
def test_tool_choice_gets_a_call_whose_arguments_fit_the_schema(server):
    c = client(server)
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    r = c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Weather in Oslo?"}], tools=tools,
                                  tool_choice={"type": "function", "function": {"name": "get_weather"}})
    call = r.choices[0].message.tool_calls[0]
    assert r.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments)["city"], str)


@pytest.mark.slow
def test_a_request_that_cannot_fit_the_context_is_a_400(server):
    c = client(server)
    long = "word " * 5000
    with pytest.raises(openai.BadRequestError) as e:
        c.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": long}], max_tokens=8)
    assert e.value.code == "context_length_exceeded" and "context of 4096" in e.value.message
    with pytest.raises(openai.NotFoundError):
        c.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])


@pytest.mark.slow
def test_a_key_is_checked_and_the_studios_remote_backend_chats_through_the_server(studio_with_model, capsys):
    from studio.cli import main

    srv = StudioServer(studio_with_model, port=0, api_key="sesame").start()
    try:
        with pytest.raises(openai.AuthenticationError):
            client(srv, "wrong").models.list()
        assert MODEL in [m.id for m in client(srv, "sesame").models.list()]
        srv.api_key = None  # the CLI's remote backend has no key option for URLs typed as a model
        code = main(["chat", "The capital of France is", "--model", f"{srv.url}#{MODEL}", "--template", "gemma",
                     "--max-tokens", "8", "--temperature", "0", "--no-save", "--json", "--home", str(studio_with_model.home.root)])
        out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert code == 0 and out["answer"] and out["stats"]["visible_tokens"] >= 1 and out["stats"]["prompt_tokens"] > 5
    finally:
        srv.close()

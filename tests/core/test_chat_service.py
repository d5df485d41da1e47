"""The chat service: conversations in SQLite, turns on the real model, votes, model shapes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import text

from studio.chat import ChatService
from studio.datasets.rows import iter_rows, resolve_version
from studio.db import Message, Model
from studio.errors import StudioError, UserError

FAST = {"max_tokens_fast": 3, "max_tokens_reasoning": 3, "think_budget": 4, "temperature": 0.0}
# the base model runs on to every limit, which these accounting checks count on (the chat's
# default is the starter assistant, which ends its turns and its thinking early)
BASE = {"default": {"model": "gemma-3-270m (base)", "adapter": None}}


def _add_messages(studio, conv_id, pairs):
    with studio.db.session() as s:
        for i, (role, content) in enumerate(pairs, 1):
            s.add(Message(conversation_id=conv_id, position=i, role=role, content=content, meta={}))


def test_conversations_list_rename_search_and_delete(studio):
    chat = ChatService(studio)
    a = chat.create_conversation(mode="reasoning")
    b = chat.create_conversation(title="Groceries")
    _add_messages(studio, a["id"], [("user", "How do photosynthesis reactions work?"), ("assistant", "Chlorophyll absorbs light.")])
    _add_messages(studio, b["id"], [("user", "milk and eggs"), ("assistant", "noted")])
    chat.rename(a["id"], "Plants")
    assert {c["title"] for c in chat.list_conversations()} == {"Plants", "Groceries"}
    hits = chat.search("chloro")  # prefix match over message text (FTS5)
    assert [h["id"] for h in hits] == [a["id"]] and "[Chlorophyll]" in hits[0]["snippet"]
    assert [h["id"] for h in chat.search("grocer")] == [b["id"]]  # titles match too
    assert chat.search("zebra") == []
    with pytest.raises(UserError):
        chat.rename(a["id"], "  ")
    chat.delete_conversation(a["id"])
    assert chat.search("chlorophyll") == []  # the index forgot the deleted messages
    with studio.db.session() as s:
        assert s.execute(text("SELECT count(*) FROM messages")).scalar() == 2
    with pytest.raises(StudioError, match="No conversation"):
        chat.get_conversation(a["id"])


def test_settings_and_prices_persist(studio):
    chat = ChatService(studio)
    c = chat.create_conversation()
    chat.update_settings(c["id"], think_budget=64, system_prompt="Be brief.")
    chat.set_mode(c["id"], "auto")
    again = ChatService(studio).get_conversation(c["id"])
    assert again["mode"] == "auto" and again["settings"] == {"think_budget": 64, "system_prompt": "Be brief."}
    assert chat.effective_settings(again)["temperature"] == 0.7
    chat.set_prices(hidden_per_1k=0.5, visible_per_1k=2)
    assert ChatService(studio).prices().hidden_per_1k == 0.5
    with pytest.raises(UserError, match="Unknown chat setting"):
        chat.update_settings(c["id"], bogus=1)
    with pytest.raises(UserError, match="mode"):
        chat.set_mode(c["id"], "turbo")


def test_compare_votes_become_preference_rows(studio):
    chat = ChatService(studio)
    r1 = chat.vote("2+2?", "4", "5", "a", "votes")
    r2 = chat.vote("Capital of Italy?", "Paris", "Rome", "b", "votes")
    tie = chat.vote("?", "x", "y", "tie", "votes")
    assert r1["version"] == 1 and r2["version"] == 2 and r2["rows"] == 2 and tie["saved"] is False
    v = resolve_version(studio.db, "votes")
    assert v.dataset.kind == "preference"
    assert list(iter_rows(studio.db, v.id)) == [
        {"prompt": "2+2?", "chosen": "4", "rejected": "5"},
        {"prompt": "Capital of Italy?", "chosen": "Rome", "rejected": "Paris"},
    ]
    with pytest.raises(UserError, match="dataset"):
        chat.vote("p", "a", "b", "a", "")


def test_model_shapes_resolve_to_llama_cpp_specs(studio, tmp_path):
    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF")
    lora = tmp_path / "lora.gguf"
    lora.write_bytes(b"GGUF")
    reg = studio.registry
    reg.add(Model(name="base", kind="base", format="gguf", path=str(base), architecture="gemma3", meta={}))
    reg.add(Model(name="tuned", kind="export", format="gguf-lora", path=str(lora),
                  chat_template="{{ bos_token }}CUSTOM", meta={"base_gguf": str(base), "template_name": "chatml"}))
    reg.add(Model(name="merged", kind="export", format="gguf", path=str(base), chat_template="<|im_start|>{{x}}<|im_end|>", meta={}))
    reg.add(Model(name="peft", kind="adapter", format="peft", path=str(tmp_path), meta={}))
    chat = ChatService(studio)
    r = chat.resolve("base")
    assert r.is_base and r.template_name == "gemma" and r.stop == ("<end_of_turn>",) and r.spec.lora_path is None
    r = chat.resolve("tuned")  # the adapter alone: its base comes from meta["base_gguf"]
    assert r.spec.model_path == str(base) and r.spec.lora_path == str(lora)
    assert r.template == "{{ bos_token }}CUSTOM" and r.stop == ("<|im_end|>",) and not r.is_base
    assert chat.resolve("base", "tuned").spec.lora_path == str(lora)
    r = chat.resolve("merged")
    assert r.template.startswith("<|im_start|>") and r.stop == ("<|im_end|>",)
    with pytest.raises(UserError, match="export it to a GGUF LoRA"):
        chat.resolve("base", "peft")
    with pytest.raises(StudioError, match="No model named"):
        chat.resolve("nope")
    assert {m["name"] for m in chat.model_choices()["models"]} == {"base", "merged"}


@pytest.mark.slow
def test_turns_on_the_real_model_are_stored_with_accounting_and_edits(studio_with_model):
    chat = ChatService(studio_with_model)
    try:
        chat.set_prices(visible_per_1k=1.0, hidden_per_1k=3.0)
        c = chat.create_conversation(mode="fast", settings={**FAST, "models": BASE})
        events = []
        m1 = chat.send(c["id"], "Name a colour.", on_event=events.append)
        assert m1["role"] == "assistant" and m1["meta"]["stats"]["visible_tokens"] == 3
        assert "".join(e["text"] for e in events if e["type"] == "answer").strip() == m1["content"]
        m2 = chat.send(c["id"], "Another one?", mode="reasoning")
        st = m2["meta"]["stats"]
        assert m2["meta"]["mode"] == "reasoning" and st["hidden_tokens"] == 4 and m2["thinking"]
        assert st["cost"] == pytest.approx((st["visible_tokens"] * 1.0 + 4 * 3.0) / 1000)
        assert m2["meta"]["cached_tokens"] > 0  # the follow-up reused the first turn's prefix
        conv = chat.get_conversation(c["id"])
        assert [m["role"] for m in conv["messages"]] == ["user", "assistant", "user", "assistant"]
        assert conv["title"] == "Name a colour."
        tot = chat.totals(c["id"])
        assert tot["turns"] == 2 and tot["hidden_tokens"] == 4
        # regenerate replaces the last answer; edit-and-resend drops everything after the edit
        chat.regenerate(c["id"], mode="fast")
        assert len(chat.get_conversation(c["id"])["messages"]) == 4
        first_user = conv["messages"][0]["id"]
        chat.edit_and_resend(first_user, "Name a fruit.")
        conv = chat.get_conversation(c["id"])
        assert [m["content"] for m in conv["messages"] if m["role"] == "user"] == ["Name a fruit."]
        assert len(conv["messages"]) == 2
        # auto mode stores the routing decision with the answer
        m3 = chat.send(c["id"], "hi", mode="auto")
        assert m3["meta"]["route"]["mode"] == "fast" and m3["meta"]["route"]["reason"] == "small talk"
    finally:
        chat.close()


@pytest.mark.slow
def test_cli_chat_prints_the_documented_json(studio_with_model, tmp_path):
    home = studio_with_model.home.root
    out = subprocess.run(
        [sys.executable, "-m", "studio", "chat", "Compute 17 * 23 + 45", "--mode", "auto", "--think-budget", "3",
         "--max-tokens", "2", "--temperature", "0", "--model", "gemma-3-270m (base)", "--json", "--home", str(home)],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert set(d) == {"answer", "thinking", "mode", "route_reason", "stats"}
    assert set(d["stats"]) == {"prompt_tokens", "visible_tokens", "hidden_tokens", "ttft_s", "tokens_per_s", "latency_s", "cost"}
    assert d["mode"] == "reasoning" and d["route_reason"] == "math" and d["stats"]["hidden_tokens"] == 3
    assert ChatService(studio_with_model).list_conversations()[0]["title"] == "Compute 17 * 23 + 45"


def test_cli_eval_router_reports_accuracy_confusion_and_hidden_cost(studio, tmp_path, capsys):
    from studio.cli import main

    suite = tmp_path / "suite.jsonl"
    suite.write_text("\n".join(json.dumps(r) for r in [
        {"query": "hi", "expect": "fast"},
        {"query": "What is the capital of Peru?", "expect": "fast"},
        {"query": "Compute 17 * 23 + 45 and then divide by 4", "expect": "reasoning"},
        {"query": "thanks!", "expect": "reasoning"},
    ]))
    code = main(["eval", "router", str(suite), "--json", "--home", str(studio.home.root), "--think-budget", "100"])
    d = json.loads(capsys.readouterr().out)
    assert code == 0
    assert d["accuracy"] == 0.75
    assert d["confusion"]["expect_reasoning"] == {"routed_fast": 1, "routed_reasoning": 1}
    assert d["hidden_tokens"]["auto"] == 100 and d["hidden_tokens"]["always_reasoning"] == 400
    # a classifier trained on labelled examples is stored in the studio and used from then on
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(json.dumps({"query": q, "expect": e}) for q, e in [
        ("thanks!", "reasoning"), ("thanks a lot!", "reasoning"), ("thanks, that helps", "reasoning"),
        ("hi", "fast"), ("hello there", "fast"), ("good morning", "fast"),
    ]))
    main(["eval", "router", str(suite), "--train", str(train), "--json", "--home", str(studio.home.root)])
    d = json.loads(capsys.readouterr().out)
    assert d["router"] == "classifier" and d["trained"]["examples"] == 6
    assert d["confusion"]["expect_reasoning"]["routed_reasoning"] >= 1
    assert ChatService(studio).router_classifier() is not None
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "x", "expect": "medium"}\n')
    assert main(["eval", "router", str(bad), "--home", str(studio.home.root)]) == 2
    assert "bad.jsonl:1" in capsys.readouterr().err


def test_tools_enabled_in_a_conversation_run_before_the_answer_and_are_stored(studio):
    from tests.helpers.openai_stub import StubServer

    prompts = []

    def script(prompt: str) -> str:
        prompts.append(prompt)
        return "It is 409.5 [1].<|im_end|>"

    chat = ChatService(studio)
    with StubServer(script) as srv:
        c = chat.create_conversation(settings={"tools": ["calculator"], "temperature": 0.0,
                                               "models": {"fast": {"model": srv.url}}})
        msg = chat.send(c["id"], "What is 17.5% of 2340?")
    calls = msg["meta"]["tool_calls"]
    assert calls and calls[0]["tool"] == "calculator" and not calls[0].get("error")
    assert "409.5" in prompts[-1]  # the model read the tool's result before answering
    stored = chat.get_conversation(c["id"])["messages"]
    assert stored[0]["content"] == "What is 17.5% of 2340?"  # the user's text is stored as typed
    assert stored[1]["meta"]["tool_calls"] == calls


def test_the_compare_panes_share_the_cores_and_the_chat_keeps_them_all(studio_with_model):
    """Two model hosts at once, each with a thread per core, oversubscribe the CPU (llama.cpp's
    threads wait on each other at every op; bench/compare_threads.py measures it): the Compare
    view's two slots get half the cores each, a lone chat keeps llama.cpp's every-core default."""
    import os

    from studio.chat import ChatService

    chat = ChatService(studio_with_model)
    try:
        resolved = chat.resolve()
        half = max(1, (os.cpu_count() or 2) // 2)
        assert chat.backend(resolved, "compare-a").spec.n_threads == half
        assert chat.backend(resolved, "compare-b").spec.n_threads == half
        assert chat.backend(resolved, "chat").spec.n_threads is None
        assert resolved.spec.n_threads is None  # the resolved model itself is not changed
    finally:
        chat.close()

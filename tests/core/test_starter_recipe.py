"""The starter recipe end to end on the real gemma-3-270m, shortened, through the real job runner,
and the shipped starter assistant's behaviour through llama.cpp."""

from __future__ import annotations

import json
import random

import pytest

pytestmark = pytest.mark.slow


def _logp(model, tok, template: str, prompt: str, answer: str) -> float:
    """Sum of log p(answer tokens | prompt) under the chat template (BOS included)."""
    import torch

    from engines.templates import render

    head = render(template, [{"role": "user", "content": prompt}], bos_token=tok.bos_token, add_generation_prompt=True)
    full = render(template, [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}],
                  bos_token=tok.bos_token)
    ids = tok(full, add_special_tokens=False, return_tensors="pt").input_ids
    n_head = len(tok(head, add_special_tokens=False).input_ids)
    with torch.no_grad():
        logits = model(ids).logits[0, :-1].float()
    lp = torch.log_softmax(logits, -1).gather(1, ids[0, 1:, None])[:, 0]
    return float(lp[n_head - 1:].sum())


def _score(hf_dir, adapter_dir, rows) -> list[float]:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from engines.templates import get_template

    tok = AutoTokenizer.from_pretrained(hf_dir)
    model = AutoModelForCausalLM.from_pretrained(hf_dir)
    if adapter_dir:
        model = PeftModel.from_pretrained(model, adapter_dir)
    model.eval()
    tpl = get_template("gemma").inference
    return [_logp(model, tok, tpl, p, a) for p, a in rows]


def test_shortened_starter_recipe_changes_behaviour_at_every_stage(studio_with_hf_model, gemma_hf_dir):
    from studio.chat import ChatService
    from studio.starter import curriculum as cur
    from studio.starter import math_problems as mp
    from studio.starter.recipe import recipe_status, run_recipe

    st = studio_with_hf_model
    short = ["sft.max_steps=10", "sft.batch_size=4", "sft.save_steps=5",
             "chat.max_steps=8", "chat.batch_size=4", "chat.save_steps=8", "chat.learning_rate=0.001",
             "dpo.max_steps=4", "dpo.save_steps=4",
             "dpo.learning_rate=0.0002", "grpo.max_steps=2", "grpo.max_completion_length=40", "grpo.learning_rate=0.0002",
             "grpo.save_steps=2",
             # after ten SFT steps no rollout is right yet: exact match and format pay 0 to all, a group
             # with no reward spread gives GRPO nothing to follow, so the short run adds a reward that varies
             # (its target is over the think prefix and a line of thinking: shorter rollouts pay more)
             'grpo.rewards=[{"name": "exact_match"}, {"name": "format", "weight": 0.2},'
             ' {"name": "length_penalty", "weight": 0.5, "target_chars": 100}]']
    events = []
    out = run_recipe(st, "starter", until="sft", overrides=short, on_event=events.append)
    assert set(out["stages"]) == {"sft"}
    status = recipe_status(st, "starter", short)
    assert [s["state"] for s in status["stages"]] == ["succeeded", "pending", "pending", "pending", "pending", "pending"]
    out = run_recipe(st, "starter", overrides=short, on_event=events.append)  # continues: SFT is not run again
    assert any(e.get("stage") == "sft" and e.get("state") == "skipped" for e in events)
    stages = out["stages"]
    assert all(stages[s]["state"] == "succeeded" for s in ("sft", "chat", "dpo", "grpo", "export", "register"))
    jobs = {s: st.jobs.get(stages[s]["job_id"]) for s in ("sft", "chat", "dpo", "grpo", "export")}
    assert jobs["chat"].parent_job_id == jobs["sft"].id and jobs["dpo"].parent_job_id == jobs["chat"].id
    assert jobs["grpo"].parent_job_id == jobs["dpo"].id
    adapters = {s: st.registry.get(stages[s]["model"]) for s in ("sft", "chat", "dpo", "grpo")}
    # each stage starts from the last: the chat stage is a second SFT pass on the SFT adapter
    assert adapters["chat"].meta["config"]["adapter_path"] == adapters["sft"].path
    assert adapters["dpo"].meta["config"]["adapter_path"] == adapters["chat"].path
    # trained on answers that open a think block: each stage is a hybrid thinker, switched by the prompt
    assert all(a.meta.get("thinking") for a in adapters.values())

    # the registered model names the recipe, the curriculum and every job config
    final = st.registry.get(out["model"])
    lineage = final.meta["recipe"]
    assert final.format == "gguf-lora" and lineage["curriculum_hash"] == out["curriculum_hash"]
    assert [s["stage"] for s in lineage["stages"]] == ["sft", "chat", "dpo", "grpo", "export"]
    assert lineage["stages"][0]["config"]["max_steps"] == 10

    # SFT: held-out answers in the curriculum's format become far more likely than under the base
    r = random.Random(4242)
    probs = [mp.make_problem(r, mp.HELDOUT_TEMPLATES) for _ in range(4)]
    # (ten short steps teach the think-then-answer form; declines take longer: the ladder measures them)
    fmt_rows = [(p.question, mp.reasoning_answer(p)) for p in probs]
    base_lp = _score(gemma_hf_dir, None, fmt_rows)
    sft_lp = _score(gemma_hf_dir, adapters["sft"].path, fmt_rows)
    gain = [s - b for s, b in zip(sft_lp, base_lp)]
    assert min(gain) > 5.0, gain

    # chat stage: the second SFT pass makes its own rows (answers about the assistant and small
    # talk, declines with balanced thoughts, replayed problems) more likely than after SFT alone
    chat_file = [json.loads(line) for line in (cur.data_dir() / "chat.jsonl").read_text(encoding="utf-8").splitlines()]
    chat_rows = [(r["messages"][0]["content"], r["messages"][-1]["content"]) for r in random.Random(77).sample(chat_file, 8)]
    sft_chat = _score(gemma_hf_dir, adapters["sft"].path, chat_rows)
    chat_chat = _score(gemma_hf_dir, adapters["chat"].path, chat_rows)
    assert sum(chat_chat) > sum(sft_chat) + 1.0, (sft_chat, chat_chat)

    # DPO: the held-out preference margin, measured by the job before and after, went up
    res = jobs["dpo"].result
    assert res["heldout_margin"] > res["heldout_margin_before"], res

    # GRPO: the policy moved (log-probabilities of held-out traces changed), and the adapter changed
    dpo_lp = _score(gemma_hf_dir, adapters["dpo"].path, fmt_rows[:4])
    grpo_lp = _score(gemma_hf_dir, adapters["grpo"].path, fmt_rows[:4])
    assert max(abs(a - b) for a, b in zip(dpo_lp, grpo_lp)) > 1e-3, (dpo_lp, grpo_lp)
    assert jobs["grpo"].result["steps"] == 2

    # the registered GGUF LoRA chats through llama.cpp with the starter's two modes
    chat = ChatService(st)
    try:
        turn = chat.run_turn_for({"settings": {"temperature": 0.0, "max_tokens_fast": 24, "think_budget": 32,
                                               "max_tokens_reasoning": 24}},
                                 [{"role": "user", "content": probs[0].question}], mode="reasoning", model=final.name)
    finally:
        chat.close()
    # (after 10 SFT steps the think block may close at once: the shipped starter's thinking is
    # checked below and measured by the ladder; here the export -> register -> llama.cpp path)
    assert turn["meta"]["adapter"] == final.name and turn["mode"] == "reasoning"
    assert turn["meta"]["finish_reason"] in ("stop", "eos", "length") and not turn["meta"].get("error")


@pytest.mark.parametrize("mode", ["fast", "reasoning"])
def test_the_shipped_starter_greets_declines_and_closes_its_thinking(studio_with_model, mode):
    """The packaged adapter on held-out queries it never saw: the ladder measures the rates;
    here a few turns that the shipped model must get right in both modes."""
    from studio.chat import ChatService

    chat = ChatService(studio_with_model)
    st = {"settings": {"temperature": 0.0, "max_tokens_fast": 96, "max_tokens_reasoning": 96, "think_budget": 160}}
    try:
        hello = chat.run_turn_for(st, [{"role": "user", "content": "Hi! Who are you?"}], mode=mode)
        fact = chat.run_turn_for(st, [{"role": "user", "content": "How many people live in Tromso?"}], mode=mode)
        sum_ = chat.run_turn_for(st, [{"role": "user", "content": "What is 23 + 19?"}], mode=mode)
    finally:
        chat.close()
    for t in (hello, fact, sum_):
        assert t["meta"]["finish_reason"] in ("stop", "eos"), json.dumps(t["meta"])[:300]  # ends its turn
        assert "<" not in t["answer"], t["answer"]  # no template tags in the text
        if mode == "reasoning":  # the thinking closed on its own, within the budget
            assert t["thinking"] and not t["meta"]["budget_forced"], t["thinking"]
        else:
            assert not t["thinking"] and t["stats"]["hidden_tokens"] == 0
    assert "starter" in (hello["meta"]["adapter"] or "")
    if mode == "fast":
        # Small talk and fact questions run fast: that is where auto routes them (asserted below).
        # In reasoning mode the shipped starter declines 70% of held-out fact questions and may
        # answer a greeting with a decline: known misses, measured by the ladder (bench/RESULTS.md);
        # those turns still end cleanly, checked above.
        assert hello["answer"].startswith(("Hello", "Hi")) or "assistant" in hello["answer"], hello["answer"]
        assert "don't know" in fact["answer"] or "can't" in fact["answer"], fact["answer"]
        assert not any(ch.isdigit() for ch in fact["answer"])  # no invented figure
    else:
        assert chat.route("Hi! Who are you?").mode == chat.route("How many people live in Tromso?").mode == "fast"
    assert sum_["answer"].startswith("The answer is "), sum_["answer"]  # (its arithmetic is measured by the ladder)
    if mode == "reasoning":
        assert "23 + 19 = " in sum_["thinking"]  # one operation per line


def test_generation_stops_at_the_templates_end_of_turn(gemma_hf_dir):
    """GRPO rollouts of a Gemma-template model end at `<end_of_turn>`, not only at `<eos>` (the
    converted base's generation config knows only the latter: rollouts were clipped and scored 0)."""
    from engines.training.common import load_base

    model, tok, _ = load_base(gemma_hf_dir, template="gemma")
    eos = model.generation_config.eos_token_id
    assert tok.convert_tokens_to_ids("<end_of_turn>") in eos and tok.eos_token_id in eos


def test_the_starter_writes_tool_calls_under_the_grammar_and_answers_from_the_result(studio_with_model):
    """With the calculator on, the starter fills the call itself (grammar-constrained, in its own
    template); the calculator's schema bounds the expression at 2,000 characters, which as a
    grammar rule once crashed llama.cpp (SIGSEGV) on the first constrained call."""
    from studio.chat import ChatService

    chat = ChatService(studio_with_model)
    st = {"settings": {"temperature": 0.0, "max_tokens_fast": 64, "tools": ["calculator"]}}
    try:
        turn = chat.run_turn_for(st, [{"role": "user", "content": "What is 1234 multiplied by 5678?"}], mode="fast")
    finally:
        chat.close()
    calls = turn["meta"]["tool_calls"]
    assert calls and calls[0]["tool"] == "calculator" and not calls[0].get("error"), calls
    # the model wrote the arguments (they parse, and the calculator ran them); whether it copies
    # every digit is the ladder's tool-call rate (90% on the held-out split), not this test's
    expr = calls[0]["args"]["expression"]  # "1234 * 5678" or "1234 multiplied by 5678": the calculator reads both
    assert expr.startswith("1234") and calls[0]["result"]["result"] == "7006652", calls[0]
    assert turn["meta"]["finish_reason"] in ("stop", "eos")


def test_the_calculator_writes_exact_results_into_the_starters_thinking(studio_with_model):
    """Reasoning with `think_calculator`: the thinking stops at each "=", the calculator writes the
    result of the arithmetic before it, and the model goes on to the next line and the answer.
    Off, the model computes the digits itself (and the turn reports no calculator results)."""
    import re

    from studio.chat import ChatService

    q = "A hall has 7 rows of 9 chairs. 12 chairs are taken. How many chairs are free?"
    base = {"temperature": 0.0, "max_tokens_reasoning": 48, "think_budget": 96}
    chat = ChatService(studio_with_model)
    try:
        on = chat.run_turn_for({"settings": {**base, "think_calculator": True}}, [{"role": "user", "content": q}],
                               mode="reasoning")
        off = chat.run_turn_for({"settings": {**base, "think_calculator": False}}, [{"role": "user", "content": q}],
                                mode="reasoning")
    finally:
        chat.close()
    lines = re.findall(r"(\d+) ([-+*/]) (\d+) = (-?\d+)", on["thinking"])
    assert on["stats"]["calculator_results"] >= 1 and lines, on["thinking"]
    ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a // b}
    assert all(ops[op](int(a), int(b)) == int(c) for a, op, b, c in lines), on["thinking"]
    assert not on["meta"]["budget_forced"] and on["meta"]["finish_reason"] in ("stop", "eos"), on["meta"]
    assert on["answer"].startswith("The answer is "), on["answer"]
    assert "calculator_results" not in off["stats"] and off["thinking"]


def test_auto_with_the_calculator_on_sends_a_bare_computation_to_the_tool_without_thinking(studio_with_model):
    """Auto: a bare computation with the calculator on runs fast and the tool does the digits
    (thinking first spent hidden tokens for nothing: the ladder's tool rows); a word problem still
    thinks, calculator or not."""
    from studio.chat import ChatService

    chat = ChatService(studio_with_model)
    st = {"settings": {"temperature": 0.0, "max_tokens_fast": 64, "max_tokens_reasoning": 64, "think_budget": 96,
                       "use_router_classifier": False, "tools": ["calculator"]}}
    try:
        bare = chat.run_turn_for(st, [{"role": "user", "content": "What is 2048 divided by 16?"}], mode="auto")
        story = chat.run_turn_for(st, [{"role": "user", "content": "Leo packs 96 eggs into boxes of 12. "
                                                                   "How many boxes does he fill?"}], mode="auto")
    finally:
        chat.close()
    assert bare["mode"] == "fast" and "calculator" in bare["route_reason"], bare["meta"]["route"]
    assert bare["stats"]["hidden_tokens"] == 0 and not bare["thinking"]
    calls = bare["meta"]["tool_calls"]
    assert calls and calls[0]["tool"] == "calculator" and calls[0]["result"]["result"] == "128", calls
    assert "128" in bare["answer"], bare["answer"]
    assert story["mode"] == "reasoning" and story["thinking"], story["meta"]["route"]

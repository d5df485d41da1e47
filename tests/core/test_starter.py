"""The starter curriculum, recipe, shipped adapter and ladder scoring (fast checks, no training)."""

from __future__ import annotations

import json
import random
import re

import pytest

from studio.errors import UserError
from studio.starter import curriculum as cur


def _read(name: str) -> list[dict]:
    return [json.loads(line) for line in (cur.data_dir() / name).read_text(encoding="utf-8").splitlines()]


def test_curriculum_package_data_is_what_the_generators_write(tmp_path):
    fresh = cur.write_curriculum(tmp_path)
    for name in cur.FILES:
        assert (fresh / name).read_bytes() == (cur.data_dir() / name).read_bytes(), (
            f"{name} is stale: run `python -m studio.starter.curriculum`")
    assert cur.curriculum_hash(fresh) == cur.curriculum_hash()


def test_curriculum_has_every_family_in_the_studio_kinds():
    sft = _read("sft.jsonl")
    assistant = [r["messages"][-1]["content"] for r in sft]
    reasoning = [a for a in assistant if a.startswith("<think>\n") and not a.startswith(cur.FAST_OPEN)]
    fast = [a for a in assistant if a.startswith(cur.FAST_OPEN)]
    assert len(reasoning) + len(fast) == len(sft)  # every answer opens with the mode's think block
    assert sum("The answer is" in a for a in reasoning) > 600 and sum("The answer is" in a for a in fast) > 200
    # reasoning traces do one operation per line, named first ("eggs laid: 7 * 4 = 28") except for bare sums
    traces = [a.split("</think>")[0].removeprefix("<think>\n").strip().splitlines() for a in reasoning if "The answer is" in a]
    op_line = re.compile(r"^(?:[\w' ]+: )?\d+ [-+*/] \d+ = -?\d+$")
    assert all(all(op_line.match(line) for line in t) for t in traces)
    assert sum(len(t) >= 2 for t in traces) > 400  # multi-step traces are the bulk of the reasoning rows
    assert any("don't know that without a tool" in a for a in assistant)
    users = [r["messages"][0]["content"] for r in sft]
    assert any(u.startswith("You call the tool `calculator`") for u in users)
    assert any(u.startswith("You call the tool `weather`") for u in users)
    assert any(u.startswith("Tool results.") for u in users)
    dpo = _read("dpo.jsonl")
    assert all(set(r) == {"prompt", "chosen", "rejected"} and r["chosen"] != r["rejected"] for r in dpo)
    grpo = _read("grpo.jsonl")
    assert all(set(r) == {"prompt", "answer"} and float(r["answer"]) == int(r["answer"]) for r in grpo)


def test_dpo_pairs_contrast_the_right_calculator_call_with_a_misread_one():
    """Round 8's chain wrote `7 * 8166` for "7 percent of 8166": DPO pairs on the chat's own call
    prompt put the expression the question asks for above a misread one."""
    from engines.tools.calculator import CalculatorError, calculate

    calls = [r for r in _read("dpo.jsonl") if r["prompt"].startswith("You call the tool `calculator`")]
    assert len(calls) >= 48
    percent = 0
    for r in calls:
        chosen = json.loads(r["chosen"].removeprefix(cur.FAST_OPEN))["expression"]
        rejected = json.loads(r["rejected"].removeprefix(cur.FAST_OPEN))["expression"]
        right = calculate(chosen)["result"]
        try:
            assert calculate(rejected)["result"] != right, r
        except CalculatorError:
            pass  # "12.5% of 2573 = 6475": the calculator cannot read it, which is the point
        percent += "% of" in chosen
    assert percent >= 10


def test_the_chat_stage_balances_answer_and_decline_thoughts():
    """In reasoning mode the thought picks answer or decline: run 7 (bench/RESULTS.md) declined 45%
    of fact questions once answer thoughts outnumbered the decline thought three to one."""
    rows = _read("chat.jsonl")
    answers = [r["messages"][-1]["content"] for r in rows]
    thoughts = [a.split("</think>")[0] for a in answers if not a.startswith(cur.FAST_OPEN) and "The answer is" not in a
                and "[1]" not in a]
    decline = sum(cur.DECLINE_THOUGHT in t for t in thoughts)
    answer = len(thoughts) - decline
    assert decline >= 30 and 0.67 <= answer / decline <= 1.5, (answer, decline)
    # every family is replayed, so the second pass does not forget the first
    assert sum("The answer is" in a for a in answers) >= 60
    assert any(r["messages"][0]["content"].startswith("You call the tool") for r in rows)
    # prompts that hold all they need are answered, never declined
    questions = {q for q, _a, _t in cur.self_and_smalltalk_rows(random.Random(1), 200)}
    assert not [a for r, a in zip(rows, answers) if r["messages"][0]["content"] in questions and
                any(d in a for d in cur.DECLINES)]


def _trained_prompts() -> set[str]:
    """Every user prompt the recipe trains on (SFT, chat, DPO, GRPO)."""
    trained = {r["messages"][0]["content"] for r in _read("sft.jsonl") + _read("chat.jsonl")}
    return trained | {r["prompt"] for r in _read("dpo.jsonl")} | {r["prompt"] for r in _read("grpo.jsonl")}


def test_heldout_split_is_never_trained_on():
    suite = _read("heldout_suite.jsonl")
    assert {r["family"] for r in suite} == {"multi_step", "single_step", "unanswerable", "chat_norms", "tool"}
    trained = _trained_prompts()
    assert not [r["query"] for r in suite if r["query"] in trained]
    # nor up to case and punctuation: "Good night" in training would leak the held-out "Good night!"
    normed = {cur._norm(t) for t in trained}
    assert not [r["query"] for r in suite if cur._norm(r["query"]) in normed]
    # wordings and entities reserved for the held-out split never reach training
    text = "\n".join(trained)
    for phrase in ("farmer keeps", "km every day", "work in groups of", "gets a discount of", "tulips grow",
                   "Valparaiso", "How many people live in"):
        assert phrase not in text
    assert any(p in r["query"] for r in suite for p in ("farmer keeps", "tulips grow"))


# the hand-written suites in bench/suites/, in the order they were written
OTHER_SUITES = ["starter_other_words.jsonl", "starter_third_words.jsonl", "starter_fourth_words.jsonl"]


@pytest.mark.parametrize("suite", OTHER_SUITES)
def test_the_other_words_suite_is_a_valid_ladder_suite_that_training_never_saw(suite):
    """bench/suites/starter_other_words.jsonl: a second held-out suite, hand-written in other
    words (bench/RESULTS.md, issue 11 round 10); bench/suites/starter_third_words.jsonl: a third,
    written at the start of round 11, before training, as the judge of that round; the fourth, the
    same way in round 12. Each must stay loadable by the ladder, cover every family, and share no
    prompt with the curriculum, up to case and punctuation, nor with any suite written before it."""
    from pathlib import Path

    from studio.evals.ladder import FAMILIES, load_suite

    suites = Path(__file__).parents[2] / "bench" / "suites"
    rows = load_suite(suites / suite)
    counts = {f: sum(r["family"] == f for r in rows) for f in FAMILIES}
    assert counts == {"multi_step": 40, "single_step": 20, "unanswerable": 20, "chat_norms": 20, "tool": 20}
    seen = _trained_prompts() | {r["query"] for r in _read("heldout_suite.jsonl")}
    normed = [cur._norm(t) for t in seen]
    assert not [r["query"] for r in rows if any(cur._norm(r["query"]) in t for t in normed)]
    for earlier in OTHER_SUITES[: OTHER_SUITES.index(suite)]:
        other = {cur._norm(r["query"]) for r in load_suite(suites / earlier)}
        assert not [r["query"] for r in rows if cur._norm(r["query"]) in other], earlier


def test_shipped_adapter_records_the_current_curriculum():
    from studio.starter.install import read_manifest

    manifest = read_manifest()
    assert manifest is not None, "studio/starter/data/starter.json is missing: run the recipe and `studio recipe ship`"
    assert manifest["recipe"]["curriculum_hash"] == cur.curriculum_hash(), (
        "the shipped starter adapter was trained on another curriculum: rebuild it with `studio recipe run starter`")
    stages = [s["stage"] for s in manifest["recipe"]["stages"]]
    assert stages[:4] == ["sft", "chat", "dpo", "grpo"] and "export" in stages
    assert all(s["config"] for s in manifest["recipe"]["stages"])


def test_ship_writes_the_build_home_as_a_placeholder(studio, tmp_path):
    """starter.json goes into the package: its lineage names files relative to the home that built
    them, never the release machine's absolute paths."""
    from studio.db import Model
    from studio.starter.recipe import BUILD_HOME, ship

    home = studio.home.root
    gguf = home / "exports" / "starter-lora.gguf"
    gguf.parent.mkdir(parents=True, exist_ok=True)
    gguf.write_bytes(b"GGUF fake adapter bytes")
    lineage = {"recipe": "starter", "curriculum_hash": "abc", "stages": [
        {"stage": "sft", "job_id": 1, "kind": "sft",
         "config": {"train_file": str(home / "jobs" / "_data" / "k" / "train.jsonl"), "lr": 1e-4,
                    "note": "/elsewhere/kept.txt"}},
        {"stage": "export", "job_id": 2, "kind": "export",
         "config": {"adapter_dir": str(home.resolve() / "models" / "adapters" / "job-1-sft")}}]}
    studio.registry.add(Model(name="made", kind="adapter", format="gguf-lora", path=str(gguf),
                              meta={"recipe": lineage, "template_name": "gemma"}))
    out = tmp_path / "pkg"
    out.mkdir()
    ship(studio, "made", out)
    text = (out / "starter.json").read_text(encoding="utf-8")
    assert str(home) not in text and str(home.resolve()) not in text
    stages = json.loads(text)["recipe"]["stages"]
    assert stages[0]["config"]["train_file"] == f"{BUILD_HOME}/jobs/_data/k/train.jsonl"
    assert stages[0]["config"]["note"] == "/elsewhere/kept.txt" and stages[0]["config"]["lr"] == 1e-4
    assert stages[1]["config"]["adapter_dir"] == f"{BUILD_HOME}/models/adapters/job-1-sft"
    assert (out / "starter.gguf").read_bytes() == gguf.read_bytes()


def test_recipe_overrides_are_checked():
    from studio.starter.recipe import load_recipe

    r = load_recipe("starter", ["sft.max_steps=3", "grpo.beta=0.1"])
    st = {s["name"]: s for s in r["stages"]}
    assert st["sft"]["config"]["max_steps"] == 3 and st["grpo"]["config"]["beta"] == 0.1
    assert [s["kind"] for s in r["stages"]] == ["train", "train", "train", "train", "export", "register"]
    with pytest.raises(UserError, match="STAGE.FIELD=VALUE"):
        load_recipe("starter", ["nosuch.max_steps=3"])
    with pytest.raises(UserError, match="No recipe named"):
        load_recipe("nosuch")


def test_a_relative_curriculum_dir_is_read_next_to_the_recipe_file(tmp_path, monkeypatch):
    from studio.starter.recipe import curriculum_folder, load_recipe

    (tmp_path / "mine").mkdir()
    text = (cur.data_dir().parent / "starter.yaml").read_text(encoding="utf-8")
    (tmp_path / "mine" / "r.yaml").write_text("curriculum_dir: data\n" + text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # another folder than the recipe's
    assert curriculum_folder(load_recipe(str(tmp_path / "mine" / "r.yaml"))) == tmp_path / "mine" / "data"
    assert curriculum_folder(load_recipe("starter")) == cur.data_dir()


def test_recipe_run_rejects_an_unknown_stage_before_starting(studio):
    from studio.starter.recipe import run_recipe

    with pytest.raises(UserError, match="no such stage"):
        run_recipe(studio, "starter", until="polish")
    assert studio.jobs.list() == []


def test_ladder_suite_problems_name_file_and_line(tmp_path):
    from studio.evals.ladder import load_suite

    p = tmp_path / "suite.jsonl"
    p.write_text('{"family": "multi_step", "query": "q", "answer": 3}\n{"family": "poetry", "query": "x"}\n'
                 '{"family": "multi_step", "query": "q"}\nnot json\n', encoding="utf-8")
    with pytest.raises(UserError) as e:
        load_suite(p)
    msg = str(e.value)
    assert f"{p}:2: family 'poetry'" in msg and f"{p}:3: a multi_step row needs a numeric" in msg and f"{p}:4: not JSON" in msg


def _out(answer, finish="stop", mode="fast", forced=False, calls=None):
    return {"answer": answer, "thinking": "", "mode": mode,
            "meta": {"finish_reason": finish, "budget_forced": forced, "tool_calls": calls},
            "stats": {"hidden_tokens": 3, "visible_tokens": 5, "latency_s": 0.1, "cost": 0.0}}


def test_ladder_scoring_rules():
    from studio.evals.ladder import score_row

    ms = {"family": "multi_step", "query": "3 bags of 4, give 2?", "answer": 10}
    assert score_row(ms, _out("The answer is 10."))["correct"]
    assert not score_row(ms, _out("10 or maybe 11"))["correct"]  # the last number counts
    un = {"family": "unanswerable", "query": "How many people live in Ghent?"}
    assert score_row(un, _out("I don't know that without a tool."))["correct"]
    assert not score_row(un, _out("About 263,000 people."))["correct"]
    assert not score_row(un, _out("I'm sorry, I don't know, but it is 263000."))["correct"]  # a decline with an invented specific
    assert score_row(un, _out("x", calls=[{"tool": "search", "args": {"query": "Ghent"}}]))["correct"]
    cn = {"family": "chat_norms", "query": "Hi"}
    assert score_row(cn, _out("Hello!"))["correct"]
    assert not score_row(cn, _out("Hello!", finish="length"))["correct"]
    assert not score_row(cn, _out("Hello!<end_of_turn>"))["correct"]
    # a greeting answered with a decline is flagged (shown apart, as the issue scores chat norms by form)
    over = score_row(cn, _out("I'm sorry, I don't know that without a tool."))
    assert over["declined"] and over["correct"] and not score_row(cn, _out("Hello!"))["declined"]
    from studio.evals.ladder import summarize

    rows = [{**score_row(cn, _out(t)), "model": "m", "stage": "s", "mode": "fast", "family": "chat_norms"}
            for t in ("Hello!", "I can't answer that reliably.", "Hi there.", "Good night!")]
    cell = next(x for x in summarize(rows) if x["family"] == "chat_norms")
    assert cell["declined"] == 0.25 and cell["accuracy"] == 1.0
    assert next(x for x in summarize(rows) if x["family"] == "all")["declined"] is None
    r = score_row(ms, _out("The answer is 10.", mode="reasoning", forced=True))
    assert r["think_closed"] is False and score_row(ms, _out("7", mode="reasoning"))["think_closed"] is True
    tool = {"family": "tool", "query": "12 * 3?", "expect_tool": "calculator", "answer": "36"}
    assert score_row(tool, _out("36 [1]", calls=[{"tool": "calculator", "args": {}, "result": {"result": "36"}}]))["tool_correct"]
    assert not score_row(tool, _out("", calls=[{"tool": "calculator", "args": {}, "result": {"result": "35"}}]))["tool_correct"]
    assert not score_row(tool, _out("", calls=[{"tool": "search", "args": {"query": "x"}}]))["tool_correct"]


def test_fresh_home_registers_the_starter_as_the_chat_default(studio_with_model, tmp_path):
    from studio.chat import ChatService
    from studio.core import open_studio
    from studio.starter.install import STARTER_NAME

    st = studio_with_model
    starter = st.registry.get(STARTER_NAME)
    base = st.registry.get("gemma-3-270m (base)")
    assert starter.format == "gguf-lora" and starter.parent_id == base.id
    assert starter.meta["recipe"]["curriculum_hash"] == cur.curriculum_hash()
    assert "semi-finished" in base.meta["note"]  # the base stays, with its banner
    chat = ChatService(st)
    r = chat.resolve()
    assert r.names == {"model": base.name, "adapter": STARTER_NAME} and r.native_thinking and not r.is_base
    assert chat.resolve(base.name).is_base
    # a user who deletes it is not overruled on the next start
    st.registry.delete(STARTER_NAME)
    st.close()
    again = open_studio(tmp_path / "home")
    try:
        assert STARTER_NAME not in {m.name for m in again.registry.list()}
        assert ChatService(again).resolve().is_base
    finally:
        again.close()


def test_a_damaged_packaged_starter_leaves_the_studio_usable_on_the_base(tmp_path, gemma_gguf, monkeypatch, capsys):
    import json
    import os

    from studio.core import open_studio
    from studio.models.registry import DEFAULT_MODEL_FILE
    from studio.starter import install

    fake = tmp_path / "pkg"
    fake.mkdir()
    manifest = json.loads(install.manifest_path().read_text(encoding="utf-8"))
    (fake / manifest["file"]).write_bytes(b"GGUF not the adapter")  # the bytes do not match the recorded sha256
    (fake / "starter.json").write_text(json.dumps(manifest), encoding="utf-8")
    monkeypatch.setattr(install, "manifest_path", lambda: fake / "starter.json")
    (tmp_path / "home" / "models").mkdir(parents=True)
    os.link(gemma_gguf, tmp_path / "home" / "models" / DEFAULT_MODEL_FILE)
    st = open_studio(tmp_path / "home")
    try:
        assert [m.name for m in st.registry.list()] == ["gemma-3-270m (base)"]
        assert not list((st.home.models / "starter").glob("*"))  # no half-copied file left behind
    finally:
        st.close()
    assert "does not match its recorded sha256" in capsys.readouterr().err

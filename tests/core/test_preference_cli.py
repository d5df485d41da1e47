"""`studio train reward|dpo|grpo` on the command line: plans, errors (exit 2) and the JSON."""

import json

import pytest

from studio.cli import main
from studio.datasets.rows import append_rows
from tests.engines.pref_tiny import format_pairs, make_word_model, sum_prompts


@pytest.fixture
def home(studio, tmp_path):
    studio.registry.import_path(make_word_model(tmp_path / "word"), "tiny-word")
    append_rows(studio.db, "ratings", "preference", format_pairs(16, 1))
    append_rows(studio.db, "sums", "prompt", sum_prompts(8, 2))
    return str(studio.home.root)


def _run(capsys, *argv):
    code = main([*argv, "--json"])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out.strip() else None), out.err


def test_train_grpo_dry_run_prints_the_plan_with_rewards(capsys, home):
    code, out, _ = _run(capsys, "train", "grpo", "--home", home, "--base", "tiny-word", "--dataset", "sums", "--template", "chatml",
                        "--steps", "5", "--set", "rewards=exact_match,length_penalty:0.2", "--set", "beta=0.02", "--dry-run")
    assert code == 0
    cfg = out["plan"]["config"]
    assert cfg["max_steps"] == 5 and cfg["beta"] == 0.02 and cfg["rewards"] == "exact_match,length_penalty:0.2"
    assert out["estimate"]["total_bytes"] > 0


@pytest.mark.parametrize("argv, message", [
    (["train", "reward", "--dataset", "sums"], "holds prompt rows, but Reward model"),
    (["train", "grpo", "--dataset", "sums", "--set", "rewards=bleu"], "unknown reward 'bleu'"),
    (["train", "dpo", "--dataset", "ratings", "--set", "beta=-1"], "beta must be positive"),
    (["train", "dpo", "--dataset", "ratings", "--set", "monitors=wndow=3"], "unknown monitor settings: wndow"),
    (["train", "reward", "--dataset", "ratings", "--adapter", "tiny-word"], "trained from a base model, not from an adapter"),
    (["train", "dpo", "--dataset", "ratings", "--adapter", "tiny-word"], "is a base (hf), not a LoRA adapter"),
])
def test_train_pref_user_errors_exit_2_with_the_cause(capsys, home, argv, message):
    code, _, err = _run(capsys, *argv, "--home", home, "--base", "tiny-word", "--template", "chatml")
    assert code == 2
    assert message in err


def test_train_reward_wait_prints_accuracy_and_the_adapter(capsys, home):
    code, out, err = _run(capsys, "train", "reward", "--home", home, "--base", "tiny-word", "--dataset", "ratings",
                          "--template", "chatml", "--steps", "3", "--set", "max_length=64", "--set", "eval_fraction=0.25", "--wait")
    assert code == 0, err
    assert out["state"] == "succeeded" and out["adapter"].endswith("reward · job 1")
    m = out["metrics"]
    assert m["steps"] == 3 and m["eval_pairs"] == 4
    assert 0.0 <= m["eval_accuracy"] <= 1.0 and "eval_margin_before" in m
    assert out["warnings"] == []

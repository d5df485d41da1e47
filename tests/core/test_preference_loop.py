"""The RLHF loop inside the studio, through the real job runner (child processes):
fixed ratings -> a preference dataset -> a reward model job -> a GRPO job rewarded by that RM."""

import random

import pytest

from studio.datasets.rows import append_rows
from studio.errors import UserError
from studio.training import TrainingService
from tests.engines.pref_tiny import format_pairs, make_word_model, sum_prompts


def _rate(pairs, seed):
    """What the Rate view stores: the rater saw A and B in random order and picked one."""
    rng = random.Random(seed)
    rows = []
    for p in pairs:
        a, b = (p["chosen"], p["rejected"]) if rng.random() < 0.5 else (p["rejected"], p["chosen"])
        pick = a if a == p["chosen"] else b  # the fixed rating: the formatted answer wins
        rows.append({"prompt": p["prompt"], "chosen": pick, "rejected": b if pick == a else a})
    return rows


@pytest.fixture
def base(studio, tmp_path):
    return studio.registry.import_path(make_word_model(tmp_path / "word"), "tiny-word")


def _run(studio, job_id):
    studio.jobs.try_become_runner()
    job = studio.jobs.wait(job_id, timeout=300)
    assert job.state == "succeeded", (job.error, job.hint, studio.jobs.events(job_id)[-3:])
    return job


def test_rlhf_loop_ratings_reward_model_then_grpo_with_it(studio, base):
    append_rows(studio.db, "ratings", "preference", _rate(format_pairs(96, 1), 0), source="rate-view")
    append_rows(studio.db, "ratings", "preference", _rate(format_pairs(24, 2), 1), split="eval", source="rate-view")
    svc = TrainingService(studio)

    plan = svc.plan("reward", base="tiny-word", dataset="ratings", template="chatml",
                    overrides={"max_steps": 20, "learning_rate": 1e-3, "batch_size": 8, "eval_steps": 10, "max_length": 64})
    rm_job = _run(studio, svc.launch(plan))
    rm = rm_job.result
    assert rm["eval_accuracy"] >= 0.85 > rm["eval_accuracy_before"] + 0.1
    rm_model = studio.registry.get(rm["model_name"])
    assert rm_model.parent_id == base.id and rm_model.meta["method"] == "reward"
    assert rm_model.dataset_version_id == plan["dataset_version_id"]

    # the Rate / Compare views ask the RM to score answers
    from studio.training.preference import score_answers

    good, bad = score_answers(studio, rm_model.name, "what is 2 plus 2", ["ANSWER: 4", "the lazy dog maybe"])
    assert good > bad

    append_rows(studio.db, "sums", "prompt", sum_prompts(32, 3))
    plan = svc.plan("grpo", base="tiny-word", dataset="sums", template="chatml", overrides={
        "max_steps": 8, "learning_rate": 3e-2, "batch_size": 16, "num_generations": 8, "beta": 0.0,
        "max_completion_length": 3, "max_length": 64, "save_steps": 0,
        "rewards": [{"name": "reward_model", "model": rm_model.name}],
    })
    job = _run(studio, svc.launch(plan))
    assert job.result["rewards"] == ["reward_model"]
    assert job.result["reward_last"] > job.result["reward_first"]
    policy = studio.registry.get(job.result["model_name"])
    assert policy.parent_id == base.id and policy.meta["method"] == "grpo"
    events = studio.jobs.events(job.id)
    assert {"progress", "samples"} <= {e["type"] for e in events}
    # the RM's score is the target; agreement with the held-out human ratings is the check
    assert job.config["human_ratings_file"].endswith("eval.jsonl")
    assert any("monitor/human_agreement" in e for e in events if e["type"] == "progress")


def test_methods_refuse_the_wrong_dataset_kind_with_a_hint(studio, base):
    append_rows(studio.db, "sums", "prompt", sum_prompts(8, 3))
    append_rows(studio.db, "ratings", "preference", format_pairs(8, 1))
    svc = TrainingService(studio)
    with pytest.raises(UserError, match="holds prompt rows, but DPO") as e:
        svc.plan("dpo", base="tiny-word", dataset="sums", template="chatml")
    assert "GRPO" in e.value.hint
    with pytest.raises(UserError, match="holds preference rows, but GRPO"):
        svc.plan("grpo", base="tiny-word", dataset="ratings", template="chatml")
    with pytest.raises(UserError, match="reward model's name"):
        svc.launch(svc.plan("grpo", base="tiny-word", dataset="sums", template="chatml",
                            overrides={"rewards": [{"name": "reward_model"}]}))


def test_presets_are_valid_configs_for_every_preference_method(studio):
    from studio.training import get_method

    for name in ("reward", "dpo", "grpo"):
        m = get_method(name)
        assert set(m.presets) == {"quick", "balanced", "thorough"}
        for preset in m.presets.values():
            m.config_cls(base_model_path="b", train_file="t.jsonl", **preset["config"])

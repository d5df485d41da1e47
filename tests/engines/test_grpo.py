"""GRPO on a tiny model: exact-match reward rises; a reward that pays for length trips the monitors."""

import pytest

from engines.training.common import TrainingError
from engines.training.grpo import GRPOJobConfig, run_grpo
from tests.engines.pref_tiny import make_word_model, sum_prompts, write_jsonl


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("grpo")
    return {"plain": make_word_model(root / "word"), "eos": make_word_model(root / "word-eos", eos_logit=8.0)}


def _cfg(tmp_path, model, **kw):
    train = write_jsonl(tmp_path / "train.jsonl", sum_prompts(64, seed=1))
    base = dict(base_model_path=str(model), train_file=str(train), chat_template="chatml", max_steps=14, batch_size=16,
                num_generations=8, learning_rate=3e-2, beta=0.0, lora_r=8, lora_alpha=16, save_steps=0, max_length=64,
                max_completion_length=2, output_dir=str(tmp_path / "grpo"), checkpoint_dir=str(tmp_path / "ck"),
                monitors={"sample_every": 5})
    return GRPOJobConfig(**{**base, **kw})


def test_grpo_exact_match_reward_rises(tmp_path, models, monkeypatch):
    import engines.training.grpo as grpo

    # spies (they call through): the no-signal monitor's groups must be trl's, one prompt each
    drained, grouped = [], []
    drain, observe = grpo.RolloutObserver.drain, grpo.RewardHackingMonitor.observe
    monkeypatch.setattr(grpo.RolloutObserver, "drain", lambda self: drained.append(drain(self)) or drained[-1])
    monkeypatch.setattr(grpo.RewardHackingMonitor, "observe",
                        lambda self, *a, **kw: grouped.append(kw["groups"]) or observe(self, *a, **kw))
    events = []
    res = run_grpo(_cfg(tmp_path, models["plain"], beta=0.02), lambda t, **d: events.append((t, d)), lambda: False)
    steps = [b for b in drained if b]
    assert len(steps) == len(grouped) == 14
    for batches, groups in zip(steps, grouped):
        prompts = [p for b in batches for p in b["prompts"]]
        members: dict = {}
        for g, p in zip(groups, prompts, strict=True):
            members.setdefault(g, set()).add(str(p))  # chat prompts are lists of messages
        # 16 completions = 2 prompts x 8 samples: two groups of one prompt each
        assert len(members) == 2 and all(len(m) == 1 for m in members.values()), members
    assert res["reward_first"] < 0.3
    assert res["reward_last"] > res["reward_first"] + 0.3
    assert res["solved_last"] > res["solved_first"]
    metrics = {k for t, d in events if t == "progress" for k in d}
    assert {"reward", "rewards/exact_match/mean", "kl", "completions/mean_length", "solved", "monitor/distinct_2",
            "monitor/no_signal_share"} <= metrics
    assert "no_signal" not in {d["monitor"] for t, d in events if t == "warning"}  # groups differ: it learns
    samples = [d for t, d in events if t == "samples"]
    assert samples and {"prompt", "completion", "reward", "exact_match"} <= set(samples[-1]["samples"][0])


def test_monitors_fire_and_stop_a_run_rewarded_for_length(tmp_path, models):
    events = []
    cfg = _cfg(tmp_path, models["eos"], max_steps=12, max_completion_length=12,
               rewards=[{"name": "length_bonus", "target_chars": 40}],
               monitors={"sample_every": 5, "stop_on_warning": True})
    stops = []
    res = run_grpo(cfg, lambda t, **d: events.append((t, d)), lambda: False, request_stop=stops.append)
    warnings = [d for t, d in events if t == "warning"]
    assert {w["monitor"] for w in warnings} & {"length", "reward_length_correlation"}
    assert all(w["stopping"] for w in warnings)
    assert res["stopped"] and res["steps"] < 12
    assert stops and stops[0].startswith("monitor: ")


def test_no_signal_monitor_fires_when_no_sample_can_be_right(tmp_path, models, monkeypatch):
    """Every group all wrong: trl's advantages are zero, the weights barely move, and the Jobs page says why."""
    import trl

    made, real = [], trl.GRPOConfig  # a spy: trl's own config, kept to check what the job asked of it
    monkeypatch.setattr(trl, "GRPOConfig", lambda **kw: made.append(real(**kw)) or made[-1])
    rows = [{**r, "answer": "999"} for r in sum_prompts(32, seed=2)]  # no 2-token completion says 999
    cfg = _cfg(tmp_path, models["plain"], max_steps=5, train_file=str(write_jsonl(tmp_path / "t.jsonl", rows)),
               scale_rewards="none")
    events = []
    res = run_grpo(cfg, lambda t, **d: events.append((t, d)), lambda: False)
    assert made and made[0].scale_rewards == "none"  # the starter recipe's setting reaches trl
    shares = [d["monitor/no_signal_share"] for t, d in events if t == "progress" and "monitor/no_signal_share" in d]
    assert len(shares) == 5 and all(x == 1.0 for x in shares)
    warning = next(d for t, d in events if t == "warning" and d["monitor"] == "no_signal")
    assert warning["step"] == 4 and "learns nothing" in warning["message"]
    assert res["reward_last"] == res["reward_first"] == 0.0


def test_grpo_names_rows_without_an_answer(tmp_path, models):
    train = write_jsonl(tmp_path / "t.jsonl", [{"prompt": "what is 1 plus 2", "answer": "3"}, {"prompt": "what is 2 plus 2"}])
    with pytest.raises(TrainingError, match=r"row 2 has no 'answer', which the exact_match reward needs"):
        run_grpo(_cfg(tmp_path, models["plain"], train_file=str(train)), lambda *a, **k: None, lambda: False)


def test_grpo_config_checks_group_size():
    with pytest.raises(TrainingError, match="multiple of num_generations"):
        GRPOJobConfig(batch_size=6, num_generations=4)
    with pytest.raises(TrainingError, match="scale_rewards 'std' is not one of group, batch, none"):
        GRPOJobConfig(scale_rewards="std")
    with pytest.raises(TrainingError, match="unknown reward"):
        GRPOJobConfig(rewards=[{"name": "vibes"}])

"""Reward-hacking monitors on synthetic runs: they fire on hacking and stay quiet otherwise."""

import random

import pytest

from engines.training.monitors import MonitorConfig, RewardHackingMonitor, distinct_n, pearson, pick_samples


def _run(monitor, steps, make):
    warnings = []
    for step in range(1, steps + 1):
        texts, rewards, lengths, extra = make(step)
        _, w = monitor.observe(step, texts, rewards, lengths, **extra)
        warnings += w
    return {w["monitor"]: w for w in warnings}


def test_monitors_fire_when_reward_pays_for_length():
    rng = random.Random(0)

    def make(step):
        lengths = [rng.randint(2, 4) + 2 * step for _ in range(8)]
        texts = [" ".join(rng.choice("abcdefgh") for _ in range(n)) for n in lengths]
        return texts, [n / 40 for n in lengths], lengths, {}

    fired = _run(RewardHackingMonitor(MonitorConfig(), max_length=64), 12, make)
    assert {"length", "reward_length_correlation"} <= set(fired)
    assert "while the reward rose" in fired["length"]["message"]


def test_monitors_stay_quiet_on_an_honest_run():
    rng = random.Random(1)

    def make(step):
        lengths = [rng.randint(5, 9) for _ in range(8)]
        texts = [" ".join(rng.choice("abcdefghijklmnop") for _ in range(n)) for n in lengths]
        return texts, [min(1.0, step / 10 + rng.random() * 0.1) for _ in lengths], lengths, {}

    assert _run(RewardHackingMonitor(MonitorConfig(), max_length=64), 12, make) == {}


def test_diversity_and_human_agreement_monitors():
    def make(step):
        texts = ["the same words again" if step > 4 else f"answer {step} {i} {i * 7} varied" for i in range(6)]
        return texts, [0.1 * step] * 6, [4] * 6, {"agreement": 0.9 if step <= 4 else 0.6}

    fired = _run(RewardHackingMonitor(MonitorConfig()), 10, make)
    assert {"diversity", "human_agreement"} <= set(fired)


def test_max_length_share_and_kl_limit():
    mon = RewardHackingMonitor(MonitorConfig(kl_max=0.5), max_length=10)
    metrics, w = mon.observe(1, ["a b"] * 4, [0.0] * 4, [10, 10, 10, 3], kl=0.9)
    assert metrics["monitor/max_length_share"] == 0.75
    assert {x["monitor"] for x in w} == {"max_length", "kl"}
    _, again = mon.observe(2, ["a b"] * 4, [0.0] * 4, [10] * 4, kl=0.9)
    assert again == []  # a monitor warns once per run


def test_measures():
    assert distinct_n(["a b c", "a b c"], 1) == 0.5
    assert distinct_n(["a b", "c d"], 2) == 1.0
    assert pearson([1, 2, 3, 4], [2, 4, 6, 8]) == pytest.approx(1.0)
    assert pearson([1, 1, 1], [1, 2, 3]) == 0.0
    s = pick_samples(["p"] * 5, list("abcde"), [0.1, 0.9, 0.5, 0.3, 0.7], 3)
    assert [x["reward"] for x in s] == [0.9, 0.5, 0.1]


def test_bad_monitor_settings_are_named():
    with pytest.raises(ValueError, match="unknown monitor settings: wndow"):
        MonitorConfig.from_dict({"wndow": 3})
    with pytest.raises(ValueError, match="length_growth"):
        MonitorConfig(length_growth=0.9)


def test_no_signal_monitor_fires_when_every_group_agrees_within_itself():
    """GRPO's advantage is a sample's reward minus its group's mean: groups whose samples all get
    the same reward (all solved, or none) teach nothing. Most groups like that for a window: warn."""
    from engines.training.monitors import zero_spread_share

    assert zero_spread_share([1, 1, 0, 0, 1, 0], [0, 0, 1, 1, 2, 2]) == 2 / 3
    assert zero_spread_share([0.2, 1.2], ["a", "b"]) is None  # no group of two: nothing to compare

    def flat(step):  # two prompts x 4 samples: one always solved, one never; no spread inside a group
        rewards = [1.2] * 4 + [0.2] * 4
        return ["x y z"] * 8, rewards, [5] * 8, {"groups": [0] * 4 + [1] * 4}

    def spread(step):  # some groups half solved: an advantage to learn from
        rewards = [1.2, 0.2, 1.2, 0.2] + [0.2] * 4
        return ["x y z"] * 8, rewards, [5] * 8, {"groups": [0] * 4 + [1] * 4}

    mon = RewardHackingMonitor(MonitorConfig())
    metrics, _ = mon.observe(1, *flat(1)[:3], **flat(1)[3])
    assert metrics["monitor/no_signal_share"] == 1.0
    fired = _run(RewardHackingMonitor(MonitorConfig()), 6, flat)
    assert "no_signal" in fired and "100% of the last 4 steps" in fired["no_signal"]["message"]
    assert "no_signal" not in _run(RewardHackingMonitor(MonitorConfig()), 6, spread)  # half the groups: under 75%
    assert "no_signal" not in _run(RewardHackingMonitor(MonitorConfig()), 3, flat)  # fewer steps than the window
    # without groups (reward model, DPO) the measure is absent, not zero
    metrics, _ = RewardHackingMonitor(MonitorConfig()).observe(1, ["a"] * 2, [1.0, 1.0], [1, 1])
    assert "monitor/no_signal_share" not in metrics

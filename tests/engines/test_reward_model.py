"""Reward-model training on a tiny model: accuracy on held-out pairs rises well above chance."""

import pytest

from engines.training.common import TrainingError, lora_state
from engines.training.reward import RewardJobConfig, load_reward_model, run_reward, score_texts, pair_messages
from tests.engines.pref_tiny import format_pairs, make_word_model, write_jsonl


@pytest.fixture(scope="module")
def word_model(tmp_path_factory):
    return make_word_model(tmp_path_factory.mktemp("rm") / "word")


def _cfg(tmp_path, model, **kw):
    train = write_jsonl(tmp_path / "train.jsonl", format_pairs(96, seed=1))
    held = write_jsonl(tmp_path / "eval.jsonl", format_pairs(32, seed=2))
    base = dict(base_model_path=str(model), train_file=str(train), eval_file=str(held), chat_template="chatml",
                max_steps=20, batch_size=8, learning_rate=1e-3, lora_r=8, lora_alpha=16, save_steps=0, eval_steps=10,
                max_length=64, output_dir=str(tmp_path / "rm"), checkpoint_dir=str(tmp_path / "ck"))
    return RewardJobConfig(**{**base, **kw})


def test_reward_model_learns_the_rule_above_chance(tmp_path, word_model):
    events = []
    res = run_reward(_cfg(tmp_path, word_model), lambda t, **d: events.append((t, d)), lambda: False)
    assert res["eval_accuracy"] >= 0.9
    assert res["eval_accuracy"] > res["eval_accuracy_before"] + 0.15
    assert res["eval_margin"] > res["eval_margin_before"] + 1.0
    # live charts: pairwise accuracy and margin on the eval split during training
    assert any(t == "progress" and "rm/accuracy" in d and d["step"] > 0 for t, d in events)
    # the saved model scores a new pair the same way
    model, tok = load_reward_model(word_model, res["adapter_dir"])
    good, bad = score_texts(model, tok, [pair_messages("what is 1 plus 2", "ANSWER: 3"), pair_messages("what is 1 plus 2", "the lazy dog")])
    assert good > bad


def test_reward_model_rejects_a_prompt_dataset(tmp_path, word_model):
    train = write_jsonl(tmp_path / "prompts.jsonl", [{"prompt": "what is 1 plus 2", "answer": "3"}] * 8)
    with pytest.raises(TrainingError, match=r"row 1 is a prompt row.*") as e:
        run_reward(_cfg(tmp_path, word_model, train_file=str(train)), lambda *a, **k: None, lambda: False)
    assert "GRPO" in e.value.hint


def test_length_bias_warning_when_the_model_learned_that_longer_wins(tmp_path, word_model):
    """Train pairs where the chosen answer is always the longer one; the held-out human ratings
    prefer the shorter. The model's length preference departs from the humans': a warning."""
    import random

    r = random.Random(0)
    words = ["the", "fox", "dog", "lazy", "quick", "maybe", "I", "think"]

    def ramble(lo, hi):
        return " ".join(r.choice(words) for _ in range(r.randint(lo, hi)))

    train = [{"prompt": "what is 1 plus 1", "chosen": ramble(6, 9), "rejected": ramble(1, 2)} for _ in range(64)]
    held = [{"prompt": "what is 2 plus 2", "chosen": ramble(1, 2), "rejected": ramble(6, 9)} for _ in range(16)]
    cfg = _cfg(tmp_path, word_model, train_file=str(write_jsonl(tmp_path / "t.jsonl", train)),
               eval_file=str(write_jsonl(tmp_path / "e.jsonl", held)), max_steps=15, eval_steps=5)
    events = []
    res = run_reward(cfg, lambda t, **d: events.append((t, d)), lambda: False)
    warnings = [d for t, d in events if t == "warning"]
    assert [w["monitor"] for w in warnings if w["monitor"] == "length_bias"] == ["length_bias"]
    assert res["longer_preferred_model"] > 0.8 and res["longer_preferred_human"] == 0.0
    assert res["eval_accuracy"] < 0.2  # and it disagrees with the held-out humans

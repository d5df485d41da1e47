"""DPO on a tiny model: the chosen-over-rejected log-prob margin on held-out pairs grows."""

import pytest

from engines.training.common import TrainingError
from engines.training.dpo import DPOJobConfig, run_dpo
from tests.engines.pref_tiny import format_pairs, make_word_model, write_jsonl


@pytest.fixture(scope="module")
def word_model(tmp_path_factory):
    return make_word_model(tmp_path_factory.mktemp("dpo") / "word")


def test_dpo_raises_the_heldout_margin_and_changes_the_adapter(tmp_path, word_model):
    from safetensors.torch import load_file

    train = write_jsonl(tmp_path / "train.jsonl", format_pairs(64, seed=1))
    held = write_jsonl(tmp_path / "eval.jsonl", format_pairs(12, seed=2))
    cfg = DPOJobConfig(base_model_path=str(word_model), train_file=str(train), eval_file=str(held), chat_template="chatml",
                       max_steps=15, batch_size=8, learning_rate=1e-3, lora_r=8, lora_alpha=16, save_steps=0, eval_steps=100,
                       max_length=64, max_new_tokens=8, output_dir=str(tmp_path / "dpo"), checkpoint_dir=str(tmp_path / "ck"),
                       monitors={"sample_every": 5, "samples_per_log": 2})
    events = []
    res = run_dpo(cfg, lambda t, **d: events.append((t, d)), lambda: False)
    assert res["heldout_margin"] > res["heldout_margin_before"] + 1.0
    assert res["reference"] == "the base model"
    metrics = {k for t, d in events if t == "progress" for k in d}
    assert {"loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "monitor/kl"} <= metrics
    assert any(t == "samples" and d["samples"] for t, d in events)
    weights = load_file(f"{res['adapter_dir']}/adapter_model.safetensors")
    assert any(k.endswith("lora_B.weight") and float(v.abs().max()) > 0 for k, v in weights.items())
    assert not any(".ref." in k for k in weights)


def test_dpo_config_names_bad_settings():
    with pytest.raises(TrainingError, match="loss_type 'dpo'"):
        DPOJobConfig(loss_type="dpo")
    with pytest.raises(TrainingError, match="beta must be positive"):
        DPOJobConfig(beta=0)
    assert DPOJobConfig(loss_type="sigmoid,sft").loss_types == ["sigmoid", "sft"]


def test_dpo_from_an_adapter_uses_it_as_the_reference(tmp_path, word_model):
    """Starting from a fine-tune, the frozen copy of that adapter is the reference: at step 0
    policy and reference agree, and the saved adapter continues from the start's weights."""
    import torch
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    start = get_peft_model(AutoModelForCausalLM.from_pretrained(word_model),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    start.save_pretrained(tmp_path / "start")
    train = write_jsonl(tmp_path / "train.jsonl", format_pairs(32, seed=1))
    cfg = DPOJobConfig(base_model_path=str(word_model), adapter_path=str(tmp_path / "start"), train_file=str(train),
                       eval_fraction=0.25, chat_template="chatml", max_steps=8, batch_size=8, learning_rate=1e-3,
                       save_steps=0, eval_steps=100, max_length=64, max_new_tokens=4,
                       output_dir=str(tmp_path / "dpo"), checkpoint_dir=str(tmp_path / "ck"), monitors={"enabled": False})
    events = []
    res = run_dpo(cfg, lambda t, **d: events.append((t, d)), lambda: False)
    assert res["reference"] == "the starting adapter"
    first = next(d for t, d in events if t == "progress" and d.get("step") == 1 and "rewards/chosen" in d)
    assert first["rewards/chosen"] == pytest.approx(0.0, abs=1e-4)  # policy == reference before any update
    assert res["heldout_margin"] > res["heldout_margin_before"]
    saved = load_file(f"{res['adapter_dir']}/adapter_model.safetensors")
    assert all("q_proj" in k or "v_proj" in k for k in saved)  # the start's LoRA layout, trained further


def test_dpo_stops_at_a_checkpoint_and_resumes_to_the_end(tmp_path, word_model):
    train = write_jsonl(tmp_path / "train.jsonl", format_pairs(48, seed=1))
    base = dict(base_model_path=str(word_model), train_file=str(train), eval_fraction=0.0, chat_template="chatml",
                max_steps=6, batch_size=8, learning_rate=1e-3, save_steps=0, max_length=64,
                output_dir=str(tmp_path / "dpo"), checkpoint_dir=str(tmp_path / "ck"), monitors={"enabled": False})
    steps = []

    def emit(t, **d):
        if t == "progress" and "loss" in d:
            steps.append(d["step"])

    first = run_dpo(DPOJobConfig(**base), emit, lambda: len(steps) >= 3)
    k = first["steps"]  # the stop is honoured at the end of the next step
    assert first["stopped"] and 3 <= k < 6 and first["last_checkpoint"].endswith(f"checkpoint-{k}")
    assert "adapter_dir" not in first
    steps.clear()
    second = run_dpo(DPOJobConfig(**base, resume_from=first["last_checkpoint"]), emit, lambda: False)
    assert not second["stopped"] and second["steps"] == 6 and steps == list(range(k + 1, 7))
    assert (tmp_path / "dpo" / "adapter_model.safetensors").exists()

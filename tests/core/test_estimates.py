"""The wizard's LoRA parameter count is the trainer's, and a first run on a GGUF base names the
one-time conversion in its duration."""

from __future__ import annotations

import pytest

from studio.training.estimates import Dims, lora_parameters


def test_lora_count_matches_what_peft_builds_on_a_model_whose_heads_are_not_hidden_wide():
    from peft import get_peft_model
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    from engines.training.common import lora_config

    cfg = Gemma3TextConfig(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=1, head_dim=32)
    model = get_peft_model(Gemma3ForCausalLM(cfg), lora_config(4, 8, 0.0, "all-linear"))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert lora_parameters(Dims.from_hf_config(cfg.to_dict()), 4) == trainable
    assert lora_parameters(Dims.from_hf_config(cfg.to_dict()), 4, "q_proj,v_proj") == 2 * 4 * ((64 + 128) + (64 + 32))


def test_gemma_gguf_dims_give_the_count_the_trainer_logged(gemma_gguf):
    dims = Dims.from_gguf(gemma_gguf)
    assert (dims.hidden, dims.layers, dims.ffn, dims.q_out, dims.kv_out) == (640, 18, 2048, 1024, 256)
    assert lora_parameters(dims, 8) == 1_898_496  # "trainable params: 1,898,496" in the r=8 job's log


def test_review_estimate_adds_the_one_time_conversion_until_the_base_is_converted(studio_with_model):
    from studio.datasets.rows import append_rows
    from studio.training.estimates import review_estimate
    from studio.training import TrainingService

    st = studio_with_model
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]} for i in range(8)]
    append_rows(st.db, "tiny", "sft", rows, source="test", note="eight rows")
    svc = TrainingService(st)
    plan = svc.plan("sft", base="gemma-3-270m (base)", dataset="tiny", overrides={"lora_r": 8})
    est = review_estimate(svc, plan)
    assert est["lora_parameters"] == 1_898_496
    assert est["conversion_seconds"] == pytest.approx(70, rel=0.05)
    assert est["seconds"] == pytest.approx(est["training_seconds"] + est["conversion_seconds"])

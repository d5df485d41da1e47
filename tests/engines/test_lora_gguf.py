"""PEFT LoRA -> GGUF LoRA: names through gguf's tensor map, shapes, transforms, refusals.

Tiny random models (2 layers, hidden 64) made from a config, with real PEFT adapters on them.
The agreement with transformers+peft on the real gemma model is in test_export_agreement.py.
"""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest

from engines.conversion.lora_to_gguf import (
    BaseSpec,
    ConversionError,
    base_spec_from_gguf,
    base_spec_from_hf,
    convert_lora_to_gguf,
    llama_permute,
)
from tests.export_fixtures import GEMMA_270M, write_random_lora

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
GGUF_OF = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
           "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down"}


def _tiny_config(arch: str):
    import transformers as tf

    common = dict(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2)
    return {
        "gemma3": lambda: tf.Gemma3TextConfig(**common, head_dim=16),
        "llama": lambda: tf.LlamaConfig(**common),
        "qwen2": lambda: tf.Qwen2Config(**common),
        "qwen3": lambda: tf.Qwen3Config(**common, head_dim=16),
        "gpt2": lambda: tf.GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=128),
    }[arch]()


def _tiny_peft(tmp_path, arch: str, **lora_kw):
    """Save a tiny model's config and a real PEFT adapter on it; return (config dir, adapter dir)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    cfg = _tiny_config(arch)
    base_dir = tmp_path / f"{arch}-base"
    cfg.save_pretrained(base_dir)
    model = AutoModelForCausalLM.from_config(cfg)
    targets = lora_kw.pop("target_modules", TARGETS)
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=targets, init_lora_weights=False, **lora_kw))
    adapter_dir = tmp_path / f"{arch}-adapter"
    peft.save_pretrained(adapter_dir)
    return base_dir, adapter_dir


def _peft_pairs(adapter_dir):
    from safetensors.numpy import load_file

    return load_file(str(adapter_dir / "adapter_model.safetensors"))


def _read_gguf(path):
    import gguf

    r = gguf.GGUFReader(str(path))
    fields = {k: f.contents() for k, f in r.fields.items() if not k.startswith("GGUF.")}
    tensors = {t.name: np.array(t.data) for t in r.tensors}
    return fields, tensors


@pytest.mark.parametrize("arch", ["gemma3", "llama", "qwen2", "qwen3"])
def test_peft_adapter_becomes_gguf_lora_under_the_base_tensor_names(tmp_path, arch):
    base_dir, adapter_dir = _tiny_peft(tmp_path, arch)
    out = tmp_path / "adapter.gguf"
    facts = convert_lora_to_gguf(adapter_dir, out, base_spec_from_hf(base_dir))

    fields, tensors = _read_gguf(out)
    assert fields["general.architecture"] == arch
    assert fields["general.type"] == "adapter"
    assert fields["adapter.type"] == "lora"
    assert fields["adapter.lora.alpha"] == pytest.approx(8.0)
    assert facts["tensors"] == len(tensors) == 2 * 2 * len(TARGETS)
    peft = _peft_pairs(adapter_dir)
    cfg = _tiny_config(arch)
    for layer in range(2):
        for mod in TARGETS:
            block = "self_attn" if mod.endswith(("q_proj", "k_proj", "v_proj", "o_proj")) else "mlp"
            key = f"base_model.model.model.layers.{layer}.{block}.{mod}"
            name = f"blk.{layer}.{GGUF_OF[mod]}.weight"
            a, b = peft[f"{key}.lora_A.weight"], peft[f"{key}.lora_B.weight"]
            np.testing.assert_array_equal(tensors[f"{name}.lora_a"], a)
            if arch == "llama" and mod in ("q_proj", "k_proj"):
                kv = cfg.num_key_value_heads if mod == "k_proj" else cfg.num_attention_heads
                expected_b = llama_permute(b, cfg.num_attention_heads, kv)
                assert not np.array_equal(expected_b, b)
            else:
                expected_b = b
            np.testing.assert_array_equal(tensors[f"{name}.lora_b"], expected_b)


def test_llama_permutation_turns_half_split_rope_pairs_into_adjacent_rows():
    # HF's rotate_half rotates dimension i with i + d/2 of each head; GGUF rotates 2i with 2i+1.
    n_head, head_dim = 2, 8
    rows = np.arange(n_head * head_dim, dtype=np.float32)[:, None]
    permuted = llama_permute(rows, n_head)[:, 0]
    for h in range(n_head):
        start = h * head_dim
        for i in range(head_dim // 2):
            pair = permuted[start + 2 * i : start + 2 * i + 2]
            assert list(pair) == [start + i, start + i + head_dim // 2]
    # grouped-query k_proj uses the kv head count
    assert llama_permute(rows, 4, 2).tolist() == llama_permute(rows, 2).tolist()


def test_rslora_scale_is_folded_into_b_so_llama_cpp_alpha_over_rank_is_exact(tmp_path):
    base_dir, adapter_dir = _tiny_peft(tmp_path, "qwen2", use_rslora=True, target_modules=["q_proj"])
    out = tmp_path / "a.gguf"
    convert_lora_to_gguf(adapter_dir, out, base_spec_from_hf(base_dir))
    fields, tensors = _read_gguf(out)
    peft = _peft_pairs(adapter_dir)
    a = peft["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"]
    b = peft["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"]
    r, alpha = a.shape[0], 8.0
    llama_cpp_delta = fields["adapter.lora.alpha"] / r * tensors["blk.0.attn_q.weight.lora_b"] @ tensors["blk.0.attn_q.weight.lora_a"]
    peft_delta = alpha / math.sqrt(r) * b @ a
    np.testing.assert_allclose(llama_cpp_delta, peft_delta, rtol=1e-5, atol=1e-7)


def test_unsupported_architecture_is_refused_naming_the_file_and_the_supported_ones(tmp_path):
    cfg = _tiny_config("gpt2")
    cfg.save_pretrained(tmp_path / "gpt2")
    with pytest.raises(ConversionError) as e:
        base_spec_from_hf(tmp_path / "gpt2")
    assert "config.json" in e.value.message and "gpt2" in e.value.message
    assert "gemma3" in e.value.hint and "qwen3" in e.value.hint
    with pytest.raises(ConversionError, match="'phi3' is not supported"):
        convert_lora_to_gguf(tmp_path, tmp_path / "x.gguf", BaseSpec(architecture="phi3", n_layers=2, source="phi.gguf"))


def test_missing_adapter_config_names_the_file_and_writes_nothing(tmp_path):
    base_dir, adapter_dir = _tiny_peft(tmp_path, "gemma3")
    (adapter_dir / "adapter_config.json").unlink()
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(ConversionError) as e:
        convert_lora_to_gguf(adapter_dir, out_dir / "a.gguf", base_spec_from_hf(base_dir))
    assert str(adapter_dir / "adapter_config.json") in e.value.message
    assert list(out_dir.iterdir()) == []


def test_adapter_trained_on_another_base_is_refused_with_both_shapes(tmp_path, gemma_gguf):
    _base, adapter_dir = _tiny_peft(tmp_path, "gemma3")  # hidden 64, the real base has 640
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(ConversionError) as e:
        convert_lora_to_gguf(adapter_dir, out_dir / "a.gguf", base_spec_from_gguf(gemma_gguf))
    msg = e.value.message
    assert "adapter_model.safetensors" in msg and "different base model" in msg
    assert "in the base gemma-3-270m" in msg
    assert list(out_dir.iterdir()) == []


def test_adapter_with_matching_shapes_passes_the_check_on_the_real_base(tmp_path, gemma_gguf):
    adapter = write_random_lora(tmp_path / "ad", **GEMMA_270M, modules=("q_proj", "down_proj"))
    facts = convert_lora_to_gguf(adapter, tmp_path / "a.gguf", base_spec_from_gguf(gemma_gguf))
    assert facts["tensors"] == 2 * 2 * GEMMA_270M["layers"]


def test_truncated_or_foreign_base_gguf_is_refused_naming_the_file(tmp_path, gemma_gguf):
    adapter = write_random_lora(tmp_path / "ad", **GEMMA_270M, modules=("q_proj",))
    truncated = tmp_path / "truncated.gguf"
    with open(gemma_gguf, "rb") as src, open(truncated, "wb") as dst:
        dst.write(src.read(1 << 20))  # the header is ~4 MB of vocabulary: it ends inside it
    with pytest.raises(ConversionError, match=r"truncated.gguf: (truncated|corrupt) GGUF"):
        convert_lora_to_gguf(adapter, tmp_path / "a.gguf", base_spec_from_gguf(truncated))
    not_gguf = tmp_path / "model.gguf"
    shutil.copy(adapter / "adapter_config.json", not_gguf)
    with pytest.raises(ConversionError, match="model.gguf: not a GGUF file"):
        base_spec_from_gguf(not_gguf)
    assert not (tmp_path / "a.gguf").exists()

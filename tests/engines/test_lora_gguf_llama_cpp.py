"""llama.cpp applies our GGUF LoRA (and our merge) exactly as transformers+peft does, for the
Llama and Qwen architectures, where no real model is at hand.

A tiny random model (2 layers, hidden 64) is written as an F32 base GGUF by a test-only
writer that applies llama.cpp's HF->GGUF transforms (the Llama q/k RoPE permutation), with a
byte-level placeholder vocabulary, since the test feeds token ids. Then the logits of
llama.cpp (+ the exported adapter, or the merged export) are compared with transformers+peft.
A LoRA written without the Llama permutation must fail the same comparison.
"""

from __future__ import annotations

import numpy as np
import pytest

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
IDS = [1, 17, 33, 50, 71, 90, 5, 9, 44, 100, 3, 64]


def _config(arch: str):
    import transformers as tf

    common = dict(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-6, tie_word_embeddings=False)
    return {"llama": lambda: tf.LlamaConfig(**common), "qwen2": lambda: tf.Qwen2Config(**common),
            "qwen3": lambda: tf.Qwen3Config(**common, head_dim=16)}[arch]()


def _write_base_gguf(model, cfg, arch: str, path) -> None:
    import gguf

    from engines.conversion.lora_to_gguf import SUPPORTED_ARCHS, llama_permute

    w = gguf.GGUFWriter(str(path), arch)
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    rope = (getattr(cfg, "rope_parameters", None) or {}).get("rope_theta") or getattr(cfg, "rope_theta", 10000.0)
    w.add_context_length(128)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_rope_freq_base(float(rope))
    w.add_rope_dimension_count(head_dim)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("llama")
    w.add_token_list(["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(cfg.vocab_size - 3)])
    w.add_token_scores([0.0] * cfg.vocab_size)
    w.add_token_types([2, 3, 3] + [6] * (cfg.vocab_size - 3))
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    names = gguf.get_tensor_name_map(getattr(gguf.MODEL_ARCH, SUPPORTED_ARCHS[arch]), cfg.num_hidden_layers)
    for key, t in model.state_dict().items():
        v = t.float().numpy()
        if arch == "llama" and key.endswith("q_proj.weight"):
            v = llama_permute(v, cfg.num_attention_heads)
        elif arch == "llama" and key.endswith("k_proj.weight"):
            v = llama_permute(v, cfg.num_attention_heads, cfg.num_key_value_heads)
        w.add_tensor(names.get_name(key, try_suffixes=(".weight", ".bias")), np.ascontiguousarray(v))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.fixture
def tiny(tmp_path, request):
    """(arch, base gguf, adapter dir, transformers+peft logits, base logits) for IDS."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    arch = request.param
    torch.manual_seed(0)
    cfg = _config(arch)
    model = AutoModelForCausalLM.from_config(cfg).eval()
    base = tmp_path / f"{arch}.gguf"
    _write_base_gguf(model, cfg, arch, base)
    peft = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS, init_lora_weights=False))
    with torch.no_grad():
        for name, p in peft.named_parameters():
            if "lora_" in name:
                p.mul_(3.0)  # a clearly visible effect on the logits
    adapter = tmp_path / "adapter"
    peft.save_pretrained(adapter)
    with torch.no_grad():
        with_lora = peft(input_ids=torch.tensor([IDS])).logits[0].numpy()
        with peft.disable_adapter():
            without = peft(input_ids=torch.tensor([IDS])).logits[0].numpy()
    return arch, base, adapter, with_lora, without


def _llama_cpp_logits(model_path, lora_path=None) -> np.ndarray:
    from engines.inference.llama_params import open_llama

    llm = open_llama(model_path=str(model_path), lora_path=str(lora_path) if lora_path else None,
                logits_all=True, n_ctx=64, n_threads=2, verbose=False)
    llm.eval(IDS)
    return np.array(llm.scores[: len(IDS)])


@pytest.mark.parametrize("tiny", ["llama", "qwen2", "qwen3"], indirect=True)
def test_llama_cpp_with_the_exported_lora_computes_the_peft_logits(tiny, tmp_path):
    from engines.conversion.lora_to_gguf import base_spec_from_gguf, convert_lora_to_gguf

    arch, base, adapter, with_lora, without = tiny
    effect = np.abs(with_lora - without).max()
    assert np.abs(_llama_cpp_logits(base) - without).max() < 1e-3  # the test's own base GGUF is right
    convert_lora_to_gguf(adapter, tmp_path / "a.gguf", base_spec_from_gguf(base))
    diff = np.abs(_llama_cpp_logits(base, tmp_path / "a.gguf") - with_lora).max()
    assert effect > 0.3 and diff < effect / 50, (diff, effect)


@pytest.mark.parametrize("tiny", ["llama"], indirect=True)
def test_a_llama_lora_without_the_rope_permutation_does_not_match(tiny, tmp_path, monkeypatch):
    import engines.conversion.lora_to_gguf as conv

    arch, base, adapter, with_lora, without = tiny
    monkeypatch.setattr(conv, "llama_permute", lambda w, n_head, n_head_kv=None: w)
    conv.convert_lora_to_gguf(adapter, tmp_path / "wrong.gguf", conv.base_spec_from_gguf(base))
    diff = np.abs(_llama_cpp_logits(base, tmp_path / "wrong.gguf") - with_lora).max()
    assert diff > np.abs(with_lora - without).max() / 20  # the transform is what makes the match


@pytest.mark.parametrize("tiny", ["llama", "qwen2", "qwen3"], indirect=True)
def test_merged_f16_and_q8_0_exports_compute_the_peft_logits(tiny, tmp_path):
    from engines.conversion.merge_export import merge_lora_into_gguf

    arch, base, adapter, with_lora, without = tiny
    effect = np.abs(with_lora - without).max()
    for out_type in ("f16", "q8_0"):
        merged = tmp_path / f"merged-{out_type}.gguf"
        merge_lora_into_gguf(base, adapter, merged, out_type=out_type, chat_template="{{ messages }}")
        got = _llama_cpp_logits(merged)
        if out_type == "f16":
            assert np.abs(got - with_lora).max() < effect / 20  # f16 rounding of the weights
        else:  # 8-bit weights (and llama.cpp's 8-bit activations) add noise on a random tiny model
            assert np.corrcoef(got.ravel(), with_lora.ravel())[0, 1] > 0.95
            assert np.abs(got - with_lora).max() < np.abs(got - without).max() / 3

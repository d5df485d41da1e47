"""Tiny random causal LMs with a real tokenizer, built offline from a config.

Tests and benchmarks need a model that trains in milliseconds per step and never touches the
Hugging Face Hub. `make_tiny_model(out_dir)` writes a Hugging Face directory
(config, random weights, a small byte-level BPE tokenizer that knows the chat-template special
tokens) that `AutoModelForCausalLM.from_pretrained` and the studio registry load like any other.

    python -m tests.helpers.tiny_model /tmp/tiny-llama
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

# Every special token of the templates in engines/templates.py, so any template trains on it.
SPECIAL_TOKENS = [
    "<pad>", "<bos>", "<eos>", "<unk>",
    "<start_of_turn>", "<end_of_turn>",
    "<|im_start|>", "<|im_end|>",
    "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
]

_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Question: what is the capital of France? Answer: Paris.",
    "user model assistant system Hello! How can I help you today?",
    "ANSWER: 42. The result is ready. Numbers 0 1 2 3 4 5 6 7 8 9 10 11 12.",
    "Translate, summarise, explain, list, count, add, subtract, multiply.",
] * 20


def make_tokenizer(vocab_size: int = 512):
    """A byte-level BPE tokenizer trained on a fixed corpus (deterministic, offline, ~50 ms)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=SPECIAL_TOKENS[4:],
    )


def make_tiny_model(
    out_dir: str | os.PathLike,
    *,
    arch: str = "llama",
    hidden_size: int = 64,
    layers: int = 2,
    seed: int = 0,
) -> Path:
    """Write a random `arch` ("llama" or "gemma3") model with 2 layers, hidden 64, to out_dir."""
    import torch
    from transformers import AutoModelForCausalLM

    out = Path(out_dir)
    tok = make_tokenizer()
    common = dict(
        vocab_size=len(tok),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )
    if arch == "llama":
        from transformers import LlamaConfig

        config = LlamaConfig(**common)
    elif arch == "gemma3":
        from transformers import Gemma3TextConfig

        config = Gemma3TextConfig(**common, head_dim=16, sliding_window=64)
    else:
        raise ValueError(f"unknown tiny architecture {arch!r}; use llama or gemma3")
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out


if __name__ == "__main__":
    print(make_tiny_model(sys.argv[1] if len(sys.argv) > 1 else "tiny-llama"))

"""Tiny word-level models for the preference-training tests (reward model, DPO, GRPO).

tests/helpers/tiny_model.py's byte-level BPE has ~500 tokens, so a random policy almost never
samples a given digit and an exact-match reward would be 0 for every rollout (no signal for
GRPO). With a vocabulary of ~40 whole words a random tiny model hits the right answer often
enough to learn from, which keeps the RL tests to a few seconds of CPU.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>", "<|im_start|>", "<|im_end|>"]
WORDS = ["user", "assistant", "system", "what", "is", "plus", "repeat", "ANSWER:", "the", "fox", "dog", "lazy",
         "quick", "brown", "over", "jumps", "maybe", "I", "think", "it", "very", "long", "and"] + [str(i) for i in range(10)]


def make_word_model(out_dir: Path, *, seed: int = 0, embed_scale: float = 5.0, eos_logit: float = 0.0) -> Path:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIALS + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
                                   unk_token="<unk>", additional_special_tokens=SPECIALS[4:])
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id,
                         tie_word_embeddings=True)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        # LoRA does not train the (tied) embedding. At the default init (std 0.02) the logits
        # span about +-1, so no LoRA update could make one answer likely; scaled up, they can.
        model.model.embed_tokens.weight.mul_(embed_scale)
        if eos_logit:
            # Point <eos> along the mean final hidden state, so the untrained model stops after a
            # word or two: a run that learns to write longer is then visible in the lengths.
            ids = torch.tensor([[vocab[w] for w in ("<|im_start|>", "user", "what", "is", "3", "plus", "4", "<|im_end|>", "<|im_start|>", "assistant")]])
            h = model.model(input_ids=ids).last_hidden_state[0, -1]
            model.model.embed_tokens.weight[fast.eos_token_id] = h / h.norm() ** 2 * eos_logit
    model.save_pretrained(out_dir)
    fast.save_pretrained(out_dir)
    return out_dir


def format_pairs(n: int, seed: int) -> list[dict]:
    """Preference pairs with a learnable rule: the chosen answer states the result as
    'ANSWER: n'; the rejected one rambles without it."""
    r = random.Random(seed)
    rows = []
    for _ in range(n):
        a, b = r.randint(0, 4), r.randint(0, 4)
        ramble = " ".join(r.choice(["the", "fox", "dog", "lazy", "quick", "maybe", "I", "think"]) for _ in range(r.randint(1, 4)))
        rows.append({"prompt": f"what is {a} plus {b}", "chosen": f"ANSWER: {a + b}", "rejected": ramble})
    return rows


def sum_prompts(n: int, seed: int, total: int = 7) -> list[dict]:
    """Prompt rows for an exact-match task a random tiny model can learn in a few dozen steps:
    additions that all sum to `total` ('what is 3 plus 4' -> 7). It cannot learn addition, but
    it can learn which answer pays, which is what the GRPO test checks."""
    r = random.Random(seed)
    out = []
    for _ in range(n):
        a = r.randint(max(0, total - 9), min(9, total))
        out.append({"prompt": f"what is {a} plus {total - a}", "answer": str(total)})
    return out


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in rows), encoding="utf-8")
    return path

"""Proof on the real model: LoRA SFT of the gemma-3-270m *base* teaches it a format it does not
have, and the adapter's stored template is what makes it answer that way at inference.

Task (synthetic, written here): "Shout the word: apple" -> "<<APPLE>>". 16 steps at batch 4 on
CPU (the loss falls from ~9 to ~0.3). Held-out words are never seen in training. The base model, prompted with the very same
template, does not answer in this format.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engines.training.sft import SFTJobConfig, run_sft

TRAIN_WORDS = """apple river candle mountain pencil garden window silver rabbit forest orange planet
bottle castle dragon engine feather guitar hammer island jacket kettle lemon marble needle
ocean pepper rocket saddle tiger violin wagon yellow zebra anchor basket cactus dolphin""".split()
HELD_OUT = ["tomato", "blanket", "lantern", "spider", "mirror", "cookie"]


def shout(word: str) -> dict:
    return {"messages": [{"role": "user", "content": f"Shout the word: {word}"}, {"role": "assistant", "content": f"<<{word.upper()}>>"}]}


@pytest.mark.slow
def test_gemma_base_learns_the_trained_format_and_the_base_does_not(tmp_path, gemma_hf_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(2)
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(shout(w)) + "\n" for w in TRAIN_WORDS * 4))
    events: list[dict] = []
    cfg = SFTJobConfig(
        base_model_path=str(gemma_hf_dir), train_file=str(train), output_dir=str(tmp_path / "adapter"),
        checkpoint_dir=str(tmp_path / "ck"), chat_template="gemma", max_steps=16, batch_size=4, learning_rate=1e-3,
        lora_r=8, lora_alpha=16, lora_dropout=0.0, max_length=64, save_steps=0, warmup_steps=2, lr_scheduler="linear",
    )
    result = run_sft(cfg, lambda type, **d: events.append({"type": type, **d}), lambda: False)

    losses = [e["loss"] for e in events if e["type"] == "progress" and "loss" in e]
    assert len(losses) == 16
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5, losses

    adapter = Path(result["adapter_dir"])
    tok = AutoTokenizer.from_pretrained(adapter)  # carries the inference template saved with the adapter
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(gemma_hf_dir), adapter).eval()
    lora_b = [p for n, p in tuned.named_parameters() if "lora_B" in n]
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b)  # zero at init: every one moved

    def answers(model) -> list[str]:
        out = []
        for word in HELD_OUT:
            prompt = tok.apply_chat_template([{"role": "user", "content": f"Shout the word: {word}"}], tokenize=False,
                                             add_generation_prompt=True)
            ids = tok(prompt, add_special_tokens=False, return_tensors="pt")
            assert ids["input_ids"][0, 0].item() == tok.bos_token_id  # BOS, as in training
            with torch.no_grad():
                gen = model.generate(**ids, max_new_tokens=10, do_sample=False, pad_token_id=tok.pad_token_id)
            out.append(tok.decode(gen[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).strip())
        return out

    tuned_answers = answers(tuned)
    with tuned.disable_adapter():
        base_answers = answers(tuned)

    def follows(text: str) -> bool:
        return text.startswith("<<") and ">>" in text

    assert sum(map(follows, tuned_answers)) >= 5, tuned_answers
    assert sum(map(follows, base_answers)) == 0, base_answers
    exact = sum(a.startswith(f"<<{w.upper()}>>") for a, w in zip(tuned_answers, HELD_OUT))
    assert exact >= 3, tuned_answers  # and it shouts the held-out word itself, not a memorised one

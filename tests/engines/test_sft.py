"""The LoRA SFT engine on a tiny random model: it learns, it stops, it resumes, it explains failures."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from engines.training.common import ADAPTER_META, TrainingError, train_with_recovery, verify_template
from engines.training.presets import load_presets
from engines.training.sft import SFTJobConfig, run_sft


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    from tests.helpers.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "llama")


def adds(n: int, start: int = 0) -> list[dict]:
    return [
        {"messages": [{"role": "user", "content": f"add {i} and {i + 1}"}, {"role": "assistant", "content": f"ANSWER: {2 * i + 1}"}]}
        for i in range(start, start + n)
    ]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def make_cfg(tmp_path: Path, tiny_dir: Path, **kw) -> SFTJobConfig:
    base = dict(
        base_model_path=str(tiny_dir),
        train_file=str(write_jsonl(tmp_path / "train.jsonl", adds(16))),
        output_dir=str(tmp_path / "adapter"),
        checkpoint_dir=str(tmp_path / "checkpoints"),
        chat_template="gemma",
        learning_rate=5e-3,
        lora_dropout=0.0,
        max_steps=10,
        batch_size=4,
        max_length=64,
        save_steps=0,
        lr_scheduler="linear",
    )
    base.update(kw)
    return SFTJobConfig(**base)


class Events(list):
    def __call__(self, type: str, **data):
        self.append({"type": type, **data})

    def of(self, type: str) -> list[dict]:
        return [e for e in self if e["type"] == type]


def test_every_preset_is_a_valid_sft_config():
    presets = load_presets()
    assert list(presets) == ["quick", "balanced", "thorough"]
    ranks = []
    for name, p in presets.items():
        cfg = SFTJobConfig(base_model_path="m", train_file="t.jsonl", **p["config"])
        assert p["label"] and p["description"], name
        ranks.append(cfg.lora_r)
    assert ranks == sorted(ranks) and len(set(ranks)) == 3  # more capacity as the preset deepens


@pytest.mark.parametrize(
    "field,value,words",
    [
        ("lora_r", 0, "lora_r"),
        ("learning_rate", 3.0, "learning_rate"),
        ("lr_scheduler", "zigzag", "lr_scheduler"),
        ("max_length", 4, "max_length"),
        ("chat_template", "vicuna", "chat template"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field, value, words):
    with pytest.raises(TrainingError) as e:
        SFTJobConfig(base_model_path="m", train_file="t.jsonl", **{field: value})
    assert words in e.value.message


def test_unknown_config_key_is_named():
    with pytest.raises(TrainingError) as e:
        SFTJobConfig.from_dict({"lora_rank": 8})
    assert "lora_rank" in e.value.message and "lora_r" in e.value.hint


def test_training_lowers_loss_changes_lora_weights_and_output(tmp_path, tiny_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    events = Events()
    result = run_sft(make_cfg(tmp_path, tiny_dir, max_steps=12), events, lambda: False)

    losses = [e["loss"] for e in events.of("progress") if "loss" in e]
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.3, losses
    assert {"learning_rate", "grad_norm", "samples_per_s", "tokens_per_s", "eta_s"} <= set(events.of("progress")[-1])
    adapter = Path(result["adapter_dir"])
    assert (adapter / "adapter_model.safetensors").exists()

    # LoRA B starts at zero: after training every B matrix must have moved
    base = AutoModelForCausalLM.from_pretrained(tiny_dir)
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_dir), adapter)
    lora_b = {n: p for n, p in tuned.named_parameters() if "lora_B" in n}
    assert lora_b and all(p.abs().sum() > 0 for p in lora_b.values())

    # behaviour: the tuned model gives the trained answer token far more probability than the base
    tok = AutoTokenizer.from_pretrained(adapter)
    prompt = tok.apply_chat_template([{"role": "user", "content": "add 40 and 41"}], tokenize=False, add_generation_prompt=True)
    ids = tok(prompt + "ANSWER", add_special_tokens=False, return_tensors="pt")["input_ids"]
    n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])

    def answer_logprob(model):
        with torch.no_grad():
            logp = model(ids).logits.log_softmax(-1)
        return sum(logp[0, i - 1, ids[0, i]].item() for i in range(n_prompt, ids.shape[1]))

    assert answer_logprob(tuned) > answer_logprob(base) + 1.0


def test_training_continues_from_a_starting_adapter(tmp_path, tiny_dir):
    """adapter_path: a second SFT stage starts from the first one's weights (a curriculum in stages)."""
    from safetensors.torch import load_file

    for d in "abc":
        (tmp_path / d).mkdir()
    first_events = Events()
    first = run_sft(make_cfg(tmp_path / "a", tiny_dir, lora_r=8, lora_alpha=16, max_steps=12), first_events, lambda: False)
    fresh_loss = [e["loss"] for e in first_events.of("progress")][0]
    events = Events()
    cont = run_sft(make_cfg(tmp_path / "b", tiny_dir, adapter_path=first["adapter_dir"], max_steps=3), events, lambda: False)
    cont_loss = [e["loss"] for e in events.of("progress")][0]
    # it starts where the first run ended, not from a fresh LoRA on the base
    assert cont_loss < fresh_loss - 0.3, (cont_loss, fresh_loss)
    assert any("starting from the adapter" in e["message"] for e in events.of("log"))
    # the starting adapter's rank applies (the config's default is 16), and training moved its weights
    saved = json.loads((Path(cont["adapter_dir"]) / "adapter_config.json").read_text())
    assert saved["r"] == 8
    before = load_file(f"{first['adapter_dir']}/adapter_model.safetensors")
    after = load_file(f"{cont['adapter_dir']}/adapter_model.safetensors")
    assert before.keys() == after.keys() and any((before[k] - after[k]).abs().sum() > 0 for k in before)
    meta = json.loads((Path(cont["adapter_dir"]) / ADAPTER_META).read_text())
    assert meta["parent_adapter_path"] == first["adapter_dir"]  # the lineage names the starting adapter
    with pytest.raises(TrainingError, match="not a LoRA adapter folder"):
        run_sft(make_cfg(tmp_path / "c", tiny_dir, adapter_path=str(tmp_path)), Events(), lambda: False)


def test_adapter_carries_the_inference_form_of_the_training_template(tmp_path, tiny_dir):
    from transformers import AutoTokenizer

    from engines.templates import get_template

    result = run_sft(make_cfg(tmp_path, tiny_dir, max_steps=1, chat_template="chatml"), Events(), lambda: False)
    adapter = Path(result["adapter_dir"])
    expected = get_template("chatml").inference
    assert result["chat_template"] == expected
    assert (adapter / "chat_template.jinja").read_text() == expected
    tok = AutoTokenizer.from_pretrained(adapter)
    assert tok.chat_template == expected
    ids = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=True)
    ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
    assert ids[0] == tok.bos_token_id  # BOS at inference, as in training
    meta = json.loads((adapter / "studio_adapter.json").read_text())
    assert meta["chat_template_name"] == "chatml" and meta["config"]["lora_r"] == 16


def test_template_mismatch_between_training_and_inference_is_caught(tiny_dir):
    from transformers import AutoTokenizer

    from engines.templates import get_template

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    gemma, chatml = get_template("gemma"), get_template("chatml")
    verify_template(tok, gemma.training, gemma.inference)  # the real pair agrees
    with pytest.raises(TrainingError, match="does not reproduce"):
        verify_template(tok, gemma.training, chatml.inference)
    without_bos = gemma.training.replace("{{ bos_token }}", "", 1)
    with pytest.raises(TrainingError, match="BOS"):
        verify_template(tok, without_bos, without_bos.replace("{%- generation -%}", "").replace("{%- endgeneration -%}", ""))


def test_assistant_only_loss_learns_answers_not_prompts(tmp_path, tiny_dir):
    """Same data, same seed, loss on assistant tokens only vs on every token: only the second
    run learns to predict the user's words; both learn the answer."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(tiny_dir)
    chat = adds(1, 7)[0]["messages"]

    def gains(assistant_only: bool) -> tuple[float, float]:
        out = tmp_path / str(assistant_only)
        out.mkdir()
        res = run_sft(make_cfg(out, tiny_dir, max_steps=12, assistant_only_loss=assistant_only), Events(), lambda: False)
        tok = AutoTokenizer.from_pretrained(res["adapter_dir"])
        tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_dir), res["adapter_dir"])
        ids = tok(tok.apply_chat_template(chat, tokenize=False), add_special_tokens=False, return_tensors="pt")["input_ids"]
        prompt = tok.apply_chat_template(chat[:1], tokenize=False, add_generation_prompt=True)
        n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])

        def mean_logprob(model, lo, hi):
            with torch.no_grad():
                logp = model(ids).logits.log_softmax(-1)
            return sum(logp[0, i - 1, ids[0, i]].item() for i in range(lo, hi)) / (hi - lo)

        user_words, answer = (3, n_prompt - 3), (n_prompt, ids.shape[1])
        return (
            mean_logprob(tuned, *answer) - mean_logprob(base, *answer),
            mean_logprob(tuned, *user_words) - mean_logprob(base, *user_words),
        )

    answer_only, user_only = gains(True)
    answer_full, user_full = gains(False)
    assert answer_only > 0.5 and answer_full > 0.5, (answer_only, answer_full)
    assert user_full > 2 * user_only and user_full > user_only + 0.25, (user_full, user_only)


def test_stop_checkpoints_and_resume_restores_optimizer_and_schedule(tmp_path, tiny_dir):
    full = Events()
    (tmp_path / "full").mkdir()
    run_sft(make_cfg(tmp_path / "full", tiny_dir, max_steps=6), full, lambda: False)
    full_lr = {e["step"]: e["learning_rate"] for e in full.of("progress") if "learning_rate" in e}
    full_loss = {e["step"]: e["loss"] for e in full.of("progress") if "loss" in e}

    (tmp_path / "cut").mkdir()
    first = Events()
    asked = []

    def stop_after_3():  # asked once per optimizer step: a cancel arriving during step 3
        asked.append(1)
        return len(asked) >= 3

    res = run_sft(make_cfg(tmp_path / "cut", tiny_dir, max_steps=6), first, stop_after_3)
    assert res["stopped"] and res["steps"] == 3 and "adapter_dir" not in res
    ck = tmp_path / "cut" / "checkpoints" / "checkpoint-3"
    assert (ck / "optimizer.pt").exists() and (ck / "scheduler.pt").exists()
    assert not list((tmp_path / "cut" / "checkpoints").glob("checkpoint-*[!0-9]*"))

    second = Events()
    res2 = run_sft(make_cfg(tmp_path / "cut", tiny_dir, max_steps=6, resume_from=str(ck)), second, lambda: False)
    steps_seen = [e["step"] for e in second.of("progress") if "loss" in e]
    assert steps_seen == [4, 5, 6] and res2["steps"] == 6
    for e in second.of("progress"):
        if "learning_rate" in e:  # the schedule continues where it stopped
            assert e["learning_rate"] == pytest.approx(full_lr[e["step"]])
            assert e["loss"] == pytest.approx(full_loss[e["step"]], rel=1e-3)  # same weights, same moments, same data


def test_rows_without_an_assistant_turn_are_named(tmp_path, tiny_dir):
    bad = adds(3) + [{"messages": [{"role": "user", "content": "hello?"}]}]
    cfg = make_cfg(tmp_path, tiny_dir, train_file=str(write_jsonl(tmp_path / "bad.jsonl", bad)))
    with pytest.raises(TrainingError) as e:
        run_sft(cfg, Events(), lambda: False)
    assert "row 4" in e.value.message and "assistant" in e.value.message


def test_preference_rows_are_refused_with_a_hint(tmp_path, tiny_dir):
    rows = [{"prompt": "a", "chosen": "b", "rejected": "c"}]
    cfg = make_cfg(tmp_path, tiny_dir, train_file=str(write_jsonl(tmp_path / "pref.jsonl", rows)))
    with pytest.raises(TrainingError) as e:
        run_sft(cfg, Events(), lambda: False)
    assert "preference" in e.value.hint


def test_quantised_base_cannot_be_trained_without_qlora(tmp_path, tiny_dir):
    import shutil

    q = tmp_path / "quantised"
    shutil.copytree(tiny_dir, q)
    conf = json.loads((q / "config.json").read_text())
    conf["quantization_config"] = {"quant_method": "gguf"}
    (q / "config.json").write_text(json.dumps(conf))
    with pytest.raises(TrainingError) as e:
        run_sft(make_cfg(tmp_path, q), Events(), lambda: False)
    assert "quantised" in e.value.message and "QLoRA" in e.value.hint


class _Raises:
    """Stands in for a Trainer whose train() fails the way a GPU or a disk does."""

    def __init__(self, exc):
        self.exc = exc
        self.callbacks = []

    def remove_callback(self, cb):
        self.callbacks.append(cb)

    def train(self, resume_from_checkpoint=None):
        raise self.exc


def test_out_of_memory_becomes_advice():
    import torch

    with pytest.raises(TrainingError) as e:
        train_with_recovery(_Raises(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")), None, batch_size=8, max_length=2048)
    assert "batch size 8" in e.value.message and "max length 2048" in e.value.message
    assert "gradient checkpointing" in e.value.hint and "QLoRA" in e.value.hint


def test_disk_full_while_checkpointing_becomes_advice():
    err = OSError(errno.ENOSPC, "No space left on device", "/data/checkpoints/checkpoint-40/optimizer.pt")
    with pytest.raises(TrainingError) as e:
        train_with_recovery(_Raises(err), None, batch_size=4, max_length=512)
    assert "disk is full" in e.value.message and "optimizer.pt" in e.value.message
    assert "Resume" in e.value.hint

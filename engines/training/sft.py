"""LoRA supervised fine-tuning (SFT) with peft and trl's SFTTrainer.

One function does the work, `run_sft(cfg, emit, should_stop)`; the job child (`run_job`), the
CLI (through a job), the benchmarks and the tests all call it. It reads top to bottom:
setup (model, tokenizer + chat template, data) -> train (with progress, stop, resume) -> save
(the adapter, with the exact inference template) -> result.

Run one by hand (no studio needed):

    python -m engines.training.sft config.yaml      # a YAML of SFTJobConfig fields

The same YAML, converted by `studio train export-config`, runs with trl's own CLI /
`accelerate launch` on a cluster.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engines.training.common import (
    STAGING,
    Emit,
    ShouldStop,
    TrainingError,
    run_training_job,
    yaml_main,
    ensure_hf_base,
    load_base,
    lora_config,
    open_adapter,
    make_callback,
    read_jsonl,
    run_result,
    save_result,
    trainer_args_common,
    train_with_recovery,
    verify_template,
    world_size,
)
from engines.training.config import TrainingConfig


@dataclass
class SFTJobConfig(TrainingConfig):
    """One SFT run: TrainingConfig (whose defaults are SFT's) and how rows become batches."""

    packing: bool = field(default=False, metadata={"help": "Pack several short rows into one max_length block (faster, no padding)."})
    group_by_length: bool = field(default=False, metadata={"help": "Batch rows of similar length together: less padding "
                                                                  "when lengths vary (on CPU every padded token costs compute)."})
    assistant_only_loss: bool = field(default=True, metadata={"help": "Learn only the assistant's tokens (the template's generation blocks), not the prompts."})


def _rows_to_dataset(rows: list[dict], path: str):
    from datasets import Dataset

    if all("messages" in r for r in rows):
        for n, r in enumerate(rows, 1):
            if not any(m.get("role") == "assistant" for m in r["messages"]):
                raise TrainingError(f"{path}: row {n} has no assistant turn, so there is nothing to learn", hint="fix or drop that row in the dataset")
        return Dataset.from_list([{"messages": r["messages"]} for r in rows])
    if all("prompt" in r and "completion" in r for r in rows):
        # prompt/completion text rows become a two-turn conversation, so the template applies
        return Dataset.from_list(
            [{"messages": [{"role": "user", "content": r["prompt"]}, {"role": "assistant", "content": r["completion"]}]} for r in rows]
        )
    raise TrainingError(
        f"{path}: SFT rows need 'messages' or 'prompt' + 'completion'",
        hint="this looks like a preference or prompt dataset; pick an SFT dataset, or the matching method",
    )


def _resolve(path: str, base: Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else base / p


def run_sft(cfg: SFTJobConfig, emit: Emit, should_stop: ShouldStop, *, workdir: str | os.PathLike | None = None) -> dict[str, Any]:
    """Train a LoRA adapter. Returns the result keys documented in studio/training/finish.py
    (adapter_dir, chat_template, steps, train_loss, first_loss, last_loss, ...); `stopped` is True
    when should_stop() ended it early (a checkpoint was written first)."""
    import torch
    from peft import get_peft_model
    from trl import SFTConfig, SFTTrainer

    base = Path(workdir or os.getcwd())
    ckpt_dir = _resolve(cfg.checkpoint_dir, base)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    out_dir = _resolve(cfg.output_dir, base)

    # -- setup --
    torch.manual_seed(cfg.seed)
    ensure_hf_base(cfg.base_model_path, cfg.base_gguf, emit)
    emit("log", message=f"loading base model {cfg.base_model_path}")
    model, tokenizer, info = load_base(
        cfg.base_model_path, template=cfg.chat_template, template_text=cfg.chat_template_text,
        precision=cfg.precision, qlora=cfg.qlora, gradient_checkpointing=cfg.gradient_checkpointing,
    )
    template_training = tokenizer.chat_template
    from engines.templates import inference_template

    verify_template(tokenizer, template_training, inference_template(template_training))
    rows = read_jsonl(_resolve(cfg.train_file, base))
    train_ds = _rows_to_dataset(rows, cfg.train_file)
    eval_ds = None
    if cfg.eval_file:
        eval_ds = _rows_to_dataset(read_jsonl(_resolve(cfg.eval_file, base)), cfg.eval_file)
    elif cfg.eval_fraction > 0 and len(train_ds) >= 4:
        split = train_ds.train_test_split(test_size=cfg.eval_fraction, seed=cfg.seed)
        train_ds, eval_ds = split["train"], split["test"]
    if cfg.adapter_path:  # keep training an earlier fine-tune (a curriculum in stages)
        emit("log", message=f"starting from the adapter {cfg.adapter_path}")
        model = open_adapter(model, cfg.adapter_path)
    else:
        model = get_peft_model(model, lora_config(cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.target_modules))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    world = world_size()
    emit("log", message=f"{info['device']} · {info['precision']} · world {world} process(es) · {info['parameters']:,} parameters, "
         f"{trainable:,} trainable (LoRA) · {len(train_ds)} rows")

    args = SFTConfig(
        **trainer_args_common(cfg, info["device"], info["precision"], ckpt_dir / STAGING),
        max_length=cfg.max_length,
        packing=cfg.packing,
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
        assistant_only_loss=cfg.assistant_only_loss,
        eval_strategy="steps" if eval_ds is not None else "no",
        eval_steps=(cfg.eval_steps or cfg.save_steps or 50) if eval_ds is not None else None,
        dataset_num_proc=None,
    )
    callback = make_callback(emit, should_stop, ckpt_dir, cfg)
    trainer = SFTTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                         processing_class=tokenizer, callbacks=[callback])

    # -- train --
    resume = _resolve(cfg.resume_from, base) if cfg.resume_from else None
    if resume is not None:
        emit("log", message=f"resuming from {resume.name} (optimizer, scheduler and data position restored)")
    output = train_with_recovery(trainer, resume, batch_size=cfg.batch_size, max_length=cfg.max_length)
    losses = [h["loss"] for h in callback.history if "loss" in h]
    result = run_result("sft", trainer, output, callback, cfg, info, trainable, {
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "eval_loss": next((h["eval_loss"] for h in reversed(callback.history) if "eval_loss" in h), None),
        "samples_per_s": next((h["samples_per_s"] for h in reversed(callback.history) if "samples_per_s" in h), None),
        "tokens_per_s": next((h["tokens_per_s"] for h in reversed(callback.history) if "tokens_per_s" in h), None),
        "precision": info["precision"],
    })
    if callback.stopped:
        return result

    # -- save --
    meta = {"method": "sft", "chat_template_name": cfg.chat_template, "config": cfg.to_dict(), "base_model_path": cfg.base_model_path,
            "parent_adapter_path": cfg.adapter_path or None}
    save_result(trainer, tokenizer, out_dir, template_training, meta, result, emit)
    return result


def run_job(config: dict[str, Any], ctx) -> dict[str, Any]:
    """The job child's entry (engines.run_job JOB_KINDS['sft'])."""
    return run_training_job(SFTJobConfig, run_sft, config, ctx)


def main(argv: list[str] | None = None) -> int:
    return yaml_main(SFTJobConfig, run_sft, "engines.training.sft", argv)


if __name__ == "__main__":
    sys.exit(main())

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
    check,
    run_training_job,
    yaml_main,
    config_from_dict,
    config_to_dict,
    ensure_hf_base,
    finish_adapter,
    load_base,
    lora_config,
    make_callback,
    read_jsonl,
    trainer_args_common,
    train_with_recovery,
    verify_template,
)

SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup", "cosine_with_min_lr")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass
class SFTJobConfig:
    """Everything one SFT run needs, as plain data (stored as the job's config)."""

    # -- what to train on --
    base_model_path: str = field(default="", metadata={"help": "Hugging Face directory of the base model (a GGUF base is converted to one first)."})
    base_gguf: str = field(default="", metadata={"help": "A GGUF base to convert into base_model_path first, when that folder is not there yet."})
    train_file: str = field(default="", metadata={"help": "JSONL of training rows: {'messages': [...]} or {'prompt', 'completion'}."})
    eval_file: str = field(default="", metadata={"help": "JSONL of held-out rows for eval loss (empty: split off eval_fraction of train_file)."})
    output_dir: str = field(default="output/adapter", metadata={"help": "Where the finished adapter is written (relative paths: inside the job folder)."})
    checkpoint_dir: str = field(default="checkpoints", metadata={"help": "Where checkpoint-<step> folders go; Resume reads the newest."})
    resume_from: str = field(default="", metadata={"help": "A checkpoint folder to continue from (optimizer and scheduler state included)."})
    # -- chat template: one for training and inference --
    chat_template: str = field(default="gemma", metadata={"help": "gemma | chatml | llama3 | model (the base model's own). Saved with the adapter."})
    chat_template_text: str = field(default="", metadata={"help": "The template's training text, filled by the studio so a job re-runs identically."})
    # -- LoRA --
    lora_r: int = field(default=16, metadata={"help": "LoRA rank: capacity of the update (8-64 is typical)."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scale numerator; alpha/r scales the update (2x r is the usual choice)."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA input; regularises small datasets."})
    target_modules: str = field(default="all-linear", metadata={"help": "Modules that get LoRA: 'all-linear' or a comma list like 'q_proj,v_proj'."})
    # -- optimisation --
    learning_rate: float = field(default=2e-4, metadata={"help": "Peak learning rate; LoRA tolerates ~10x the full fine-tune rate."})
    lr_scheduler: str = field(default="cosine", metadata={"help": "Learning-rate schedule: " + ", ".join(SCHEDULERS) + "."})
    warmup_steps: int = field(default=0, metadata={"help": "Steps of linear warm-up before the schedule."})
    epochs: float = field(default=1.0, metadata={"help": "Passes over the data (ignored when max_steps > 0)."})
    max_steps: int = field(default=-1, metadata={"help": "Stop after this many optimizer steps (-1: use epochs)."})
    batch_size: int = field(default=4, metadata={"help": "Rows per device per step; lower it when memory runs out."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Steps whose gradients add up before one update (effective batch = batch x this)."})
    max_length: int = field(default=512, metadata={"help": "Tokens per row; longer rows are truncated. The biggest lever on memory."})
    packing: bool = field(default=False, metadata={"help": "Pack several short rows into one max_length block (faster, no padding)."})
    group_by_length: bool = field(default=False, metadata={"help": "Batch rows of similar length together: less padding "
                                                                  "when lengths vary (on CPU every padded token costs compute)."})
    assistant_only_loss: bool = field(default=True, metadata={"help": "Learn only the assistant's tokens (the template's generation blocks), not the prompts."})
    seed: int = field(default=42, metadata={"help": "Seed for data order, LoRA init and dropout: equal seeds give equal runs."})
    eval_fraction: float = field(default=0.0, metadata={"help": "Share of rows held out for eval loss when no eval_file is given (0: none)."})
    eval_steps: int = field(default=0, metadata={"help": "Evaluate every N steps (0: at each checkpoint)."})
    save_steps: int = field(default=50, metadata={"help": "Write a checkpoint every N steps (0: only when stopped)."})
    keep_checkpoints: int = field(default=2, metadata={"help": "How many of the newest checkpoints to keep on disk."})
    logging_steps: int = field(default=1, metadata={"help": "Report loss, learning rate and grad norm every N steps."})
    # -- hardware --
    precision: str = field(default="auto", metadata={"help": "auto (bf16/fp16 on CUDA, fp32 on CPU) | fp32 | bf16 | fp16."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Recompute activations in backward: less memory, ~30% slower."})
    qlora: bool = field(default=False, metadata={"help": "Load the base in 4-bit (bitsandbytes, CUDA only): QLoRA."})

    def __post_init__(self):
        check(self.lora_r >= 1, f"lora_r must be at least 1, not {self.lora_r}")
        check(self.lora_alpha >= 1, f"lora_alpha must be at least 1, not {self.lora_alpha}")
        check(0.0 <= self.lora_dropout < 1.0, f"lora_dropout must be in [0, 1), not {self.lora_dropout}")
        check(0.0 < self.learning_rate < 1.0, f"learning_rate must be in (0, 1), not {self.learning_rate}", "2e-4 is a good start for LoRA")
        check(self.lr_scheduler in SCHEDULERS, f"lr_scheduler {self.lr_scheduler!r} is not one of {', '.join(SCHEDULERS)}")
        check(self.precision in PRECISIONS, f"precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        check(self.batch_size >= 1, f"batch_size must be at least 1, not {self.batch_size}")
        check(self.gradient_accumulation_steps >= 1, "gradient_accumulation_steps must be at least 1")
        check(16 <= self.max_length <= 131072, f"max_length must be between 16 and 131072, not {self.max_length}")
        check(self.max_steps > 0 or self.epochs > 0, "set max_steps > 0 or epochs > 0", "a run needs a length")
        check(0.0 <= self.eval_fraction < 0.5, f"eval_fraction must be in [0, 0.5), not {self.eval_fraction}")
        check(self.warmup_steps >= 0 and self.save_steps >= 0 and self.eval_steps >= 0, "step counts cannot be negative")
        check(self.logging_steps >= 1, "logging_steps must be at least 1")
        check(bool(self.target_modules.strip()), "target_modules is empty", "use 'all-linear'")
        if self.chat_template not in ("gemma", "chatml", "llama3", "model") and not self.chat_template_text:
            raise TrainingError(f"Unknown chat template {self.chat_template!r}", "choose gemma, chatml, llama3 or model")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SFTJobConfig":
        return config_from_dict(cls, data)

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)


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
    model = get_peft_model(model, lora_config(cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.target_modules))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    world = int(os.environ.get("WORLD_SIZE", "1"))
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
    callback = make_callback(
        emit, should_stop, ckpt_dir,
        samples_per_step=cfg.batch_size * cfg.gradient_accumulation_steps * world,
        keep_checkpoints=cfg.keep_checkpoints,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                         processing_class=tokenizer, callbacks=[callback])

    # -- train --
    resume = _resolve(cfg.resume_from, base) if cfg.resume_from else None
    if resume is not None:
        emit("log", message=f"resuming from {resume.name} (optimizer, scheduler and data position restored)")
    output = train_with_recovery(trainer, resume, batch_size=cfg.batch_size, max_length=cfg.max_length)
    losses = [h["loss"] for h in callback.history if "loss" in h]
    result: dict[str, Any] = {
        "method": "sft",
        "steps": trainer.state.global_step,
        "total_steps": trainer.state.max_steps,
        "train_loss": float(output.training_loss),
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "eval_loss": next((h["eval_loss"] for h in reversed(callback.history) if "eval_loss" in h), None),
        "samples_per_s": next((h["samples_per_s"] for h in reversed(callback.history) if "samples_per_s" in h), None),
        "tokens_per_s": next((h["tokens_per_s"] for h in reversed(callback.history) if "tokens_per_s" in h), None),
        "device": info["device"],
        "precision": info["precision"],
        "trainable_parameters": trainable,
        "chat_template_name": cfg.chat_template,
        "stopped": callback.stopped,
        "last_checkpoint": str(callback.last_checkpoint) if callback.last_checkpoint else None,
    }
    if callback.stopped:
        return result

    # -- save --
    if trainer.is_world_process_zero():
        meta = {"method": "sft", "chat_template_name": cfg.chat_template, "config": cfg.to_dict(), "base_model_path": cfg.base_model_path}
        finish_adapter(trainer, tokenizer, out_dir, template_training, meta)
        result["adapter_dir"] = str(out_dir)
        result["chat_template"] = inference_template(template_training)
        emit("artifact", name="adapter", path=str(out_dir))
    return result


def run_job(config: dict[str, Any], ctx) -> dict[str, Any]:
    """The job child's entry (engines.run_job JOB_KINDS['sft'])."""
    return run_training_job(SFTJobConfig, run_sft, config, ctx)


def main(argv: list[str] | None = None) -> int:
    return yaml_main(SFTJobConfig, run_sft, "engines.training.sft", argv)


if __name__ == "__main__":
    sys.exit(main())

"""Direct Preference Optimization: trl's DPOTrainer with LoRA on a `preference` dataset.

DPO learns from the same ranked pairs as a reward model, without one: it raises the
log-probability of the chosen answer over the rejected one, relative to a frozen reference.
The reference is the starting adapter (an SFT fine-tune; trl keeps a frozen copy of it) or,
without one, the base model (the LoRA switched off). `beta` sets how far the policy may move
from the reference; `loss_type` picks sigmoid (the paper), IPO, hinge, and trl's others.

`run_dpo(cfg, emit, should_stop)`: setup -> held-out log-prob margin before -> train (loss,
rewards/chosen, rewards/rejected, margins, accuracy live; every `sample_every` steps a few
sampled completions with their implicit reward, length, diversity and KL to the reference go
through the reward-hacking monitors) -> margin after -> save the adapter.

    python -m engines.training.dpo config.yaml
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
    check,
    run_training_job,
    yaml_main,
    make_callback,
    run_result,
    save_result,
    trainer_args_common,
    train_with_recovery,
)
from engines.training.monitors import RewardHackingMonitor, pick_samples
from engines.training.preference_common import (
    PreferenceConfig,
    adapter_meta,
    load_policy,
    load_split,
    preference_dataset,
    resolve,
    run_paths,
    warning_handler,
)

# trl 1.x DPOConfig.loss_type values
LOSS_TYPES = (
    "sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust", "bco_pair", "sppo_hard", "aot",
    "aot_unpaired", "apo_zero", "apo_down", "discopop", "sft", "sigmoid_norm",
)


@dataclass
class DPOJobConfig(PreferenceConfig):
    """A DPO run: LoRA on the base or on a starting adapter, against a frozen reference."""

    beta: float = field(default=0.1, metadata={"help": "How far the policy may move from the reference: higher stays closer (0.1 is the paper's value)."})
    loss_type: str = field(default="sigmoid", metadata={"help": "sigmoid (DPO) | ipo | hinge | robust | ... (trl's loss types); a comma list combines several."})
    label_smoothing: float = field(default=0.0, metadata={"help": "Assumed share of flipped labels (robust / conservative DPO); 0 trusts every rating."})
    max_new_tokens: int = field(default=48, metadata={"help": "Length of the sample completions the monitors read."})

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.beta > 0, f"beta must be positive, not {self.beta}", "0.1 is a good start")
        for t in self.loss_types:
            check(t in LOSS_TYPES, f"loss_type {t!r} is not one of {', '.join(LOSS_TYPES)}")
        check(0.0 <= self.label_smoothing < 0.5, "label_smoothing must be in [0, 0.5)")
        check(self.max_new_tokens >= 1, "max_new_tokens must be at least 1")

    @property
    def loss_types(self) -> list[str]:
        return [t.strip() for t in self.loss_type.split(",") if t.strip()]


# ---- log-probabilities ---------------------------------------------------------------------------


def completion_logprob(model, tokenizer, prompt: list[dict], completion: list[dict]) -> float:
    """Sum of log p(completion tokens | prompt) under `model`, with the chat template."""
    import torch

    p_ids = tokenizer.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True, return_dict=True)["input_ids"]
    f_ids = tokenizer.apply_chat_template(prompt + completion, tokenize=True, return_dict=True)["input_ids"]
    start = 0
    while start < min(len(p_ids), len(f_ids)) and p_ids[start] == f_ids[start]:
        start += 1
    device = next(model.parameters()).device
    ids = torch.tensor([f_ids], device=device)
    with torch.inference_mode():
        logits = model(input_ids=ids).logits[0, :-1].float()
    logps = torch.log_softmax(logits, dim=-1).gather(1, ids[0, 1:, None])[:, 0]
    return float(logps[max(start - 1, 0):].sum())


def heldout_margin(model, tokenizer, dataset) -> dict[str, float]:
    """Mean log p(chosen) - log p(rejected) over held-out pairs, and the share where it is > 0."""
    was_training = model.training
    model.eval()
    margins = [
        completion_logprob(model, tokenizer, r["prompt"], r["chosen"]) - completion_logprob(model, tokenizer, r["prompt"], r["rejected"])
        for r in dataset
    ]
    if was_training:
        model.train()
    n = max(1, len(margins))
    return {"logp_margin": sum(margins) / n, "pair_accuracy": sum(m > 0 for m in margins) / n}


def _reference(model):
    """Context in which `model` computes the reference's log-probs (trl's own convention)."""
    from trl.trainer.utils import use_adapter

    return use_adapter(model, adapter_name="ref" if "ref" in model.peft_config else None)


def _sample_callback(eval_ds, tokenizer, cfg: DPOJobConfig, emit: Emit, on_warning):
    """Every sample_every steps: sample completions of held-out prompts, score them with the
    implicit DPO reward beta * (log pi - log ref), and feed the monitors."""
    from transformers import TrainerCallback

    mcfg = cfg.monitor_config
    monitor = RewardHackingMonitor(mcfg, max_length=cfg.max_new_tokens)
    prompts = [r["prompt"] for r in eval_ds][: max(mcfg.samples_per_log, 4)]

    class _Samples(TrainerCallback):
        def __init__(self):
            self.warnings: list[dict[str, Any]] = []

        def on_step_end(self, args, state, control, model=None, **kw):
            if not mcfg.enabled or not prompts or state.global_step % mcfg.sample_every:
                return
            self.observe(model, state.global_step, state.max_steps)

        def observe(self, model, step: int, total: int) -> None:
            import torch

            was_training = model.training
            model.eval()
            texts, lengths, rewards = [], [], []
            gen = torch.Generator().manual_seed(cfg.seed + step)
            for p in prompts:
                ids = tokenizer.apply_chat_template(p, tokenize=True, add_generation_prompt=True, return_dict=True, return_tensors="pt")
                torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
                with torch.inference_mode():
                    out = model.generate(**ids.to(model.device), max_new_tokens=cfg.max_new_tokens, do_sample=True,
                                         temperature=1.0, pad_token_id=tokenizer.pad_token_id)
                new = out[0, ids["input_ids"].shape[1]:]
                text = tokenizer.decode(new, skip_special_tokens=True)
                c = [{"role": "assistant", "content": text}]
                lp = completion_logprob(model, tokenizer, p, c)
                with _reference(model):
                    ref = completion_logprob(model, tokenizer, p, c)
                texts.append(text)
                lengths.append(int(new.shape[0]))
                rewards.append(cfg.beta * (lp - ref))
            if was_training:
                model.train()
            kl = sum(rewards) / len(rewards) / cfg.beta  # E_pi[log pi - log ref]: a sampled KL estimate
            metrics, warnings = monitor.observe(step, texts, rewards, lengths, kl=kl)
            metrics["monitor/implicit_reward"] = sum(rewards) / len(rewards)
            emit("progress", step=step, total=total, **metrics)
            emit("samples", step=step, samples=pick_samples(prompts, texts, rewards, mcfg.samples_per_log, length=lengths))
            for w in warnings:
                self.warnings.append(w)
                on_warning(w)

    return _Samples()


def run_dpo(
    cfg: DPOJobConfig,
    emit: Emit,
    should_stop: ShouldStop,
    *,
    workdir: str | os.PathLike | None = None,
    request_stop=None,
) -> dict[str, Any]:
    """Train a DPO adapter. Result: adapter_dir, held-out log-prob margin before and after, ..."""
    import torch
    from trl import DPOConfig, DPOTrainer

    base, ckpt_dir, out_dir = run_paths(cfg, workdir)
    stop_flag: list[str] = []

    # -- setup --
    torch.manual_seed(cfg.seed)
    model, tokenizer, info, peft_config = load_policy(cfg, emit)
    template_training = tokenizer.chat_template
    train_ds, eval_ds = load_split(cfg, base, preference_dataset)

    on_warning = warning_handler(cfg, emit, stop_flag, request_stop)

    args = DPOConfig(
        **trainer_args_common(cfg, info["device"], info["precision"], ckpt_dir / STAGING),
        max_length=cfg.max_length,
        beta=cfg.beta,
        loss_type=cfg.loss_types,
        label_smoothing=cfg.label_smoothing,
        eval_strategy="steps" if eval_ds is not None else "no",
        eval_steps=(cfg.eval_steps or cfg.save_steps or 50) if eval_ds is not None else None,
        dataset_num_proc=None,
    )
    callback = make_callback(emit, lambda: should_stop() or bool(stop_flag), ckpt_dir, cfg)
    callbacks = [callback]
    samples_cb = None
    if eval_ds is not None:
        samples_cb = _sample_callback(eval_ds, tokenizer, cfg, emit, on_warning)
        callbacks.append(samples_cb)
    trainer = DPOTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                         processing_class=tokenizer, peft_config=peft_config, callbacks=callbacks)
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    reference = "the starting adapter" if cfg.adapter_path else "the base model"
    emit("log", message=f"{info['device']} · {len(train_ds)} pairs · reference: {reference} · {trainable:,} trainable")

    measure_ds = eval_ds if eval_ds is not None else train_ds
    before = heldout_margin(trainer.model, tokenizer, measure_ds)
    emit("progress", step=0, total=trainer.args.max_steps if trainer.args.max_steps > 0 else 0,
         **{f"heldout/{k}": v for k, v in before.items()})

    # -- train --
    resume = resolve(cfg.resume_from, base) if cfg.resume_from else None
    output = train_with_recovery(trainer, resume, batch_size=cfg.batch_size, max_length=cfg.max_length)
    after = heldout_margin(trainer.model, tokenizer, measure_ds)
    emit("metrics", step=trainer.state.global_step, **{f"heldout/{k}": v for k, v in after.items()})
    last = next((h for h in reversed(callback.history) if "rewards/margins" in h), {})
    result = run_result("dpo", trainer, output, callback, cfg, info, trainable, {
        "reference": reference,
        "beta": cfg.beta,
        "loss_type": cfg.loss_type,
        "heldout_margin_before": before["logp_margin"],
        "heldout_margin": after["logp_margin"],
        "heldout_accuracy_before": before["pair_accuracy"],
        "heldout_accuracy": after["pair_accuracy"],
        "heldout_split": "eval" if eval_ds is not None else "train",
        "rewards_margin": last.get("rewards/margins"),
        "rewards_accuracy": last.get("rewards/accuracies"),
        "warnings": samples_cb.warnings if samples_cb else [],
    }, stop_flag)
    if callback.stopped:
        return result

    # -- save --
    meta = adapter_meta("dpo", cfg, heldout_margin=after["logp_margin"], beta=cfg.beta, loss_type=cfg.loss_type)
    save_result(trainer, tokenizer, out_dir, template_training, meta, result, emit)
    return result


def run_job(config: dict[str, Any], ctx) -> dict[str, Any]:
    """The job child's entry (engines.run_job JOB_KINDS['dpo'])."""
    return run_training_job(DPOJobConfig, run_dpo, config, ctx, can_self_stop=True)


def main(argv: list[str] | None = None) -> int:
    return yaml_main(DPOJobConfig, run_dpo, "engines.training.dpo", argv)


if __name__ == "__main__":
    sys.exit(main())

"""Group Relative Policy Optimization: trl's GRPOTrainer with LoRA on a `prompt` dataset.

RL with verifiable rewards: for each prompt the policy samples a group of completions, each
is scored by the weighted reward functions of engines/training/rewards.py (exact answer,
code tests, format, a trained reward model, a length penalty), and the policy moves toward
the completions that scored above their group's mean. `beta` keeps it near the reference
(the starting adapter, or the base) with a KL penalty.

Live charts: mean reward per function, the total reward, KL, completion length, the fraction
solved (verifiable rewards at 1.0) and the reward-hacking monitors, which read every batch of
completions with their rewards (engines/training/monitors.py). Sample completions with their
rewards are logged every `sample_every` steps.

    python -m engines.training.grpo config.yaml
"""

from __future__ import annotations

import math
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
    make_callback,
    run_result,
    save_result,
    trainer_args_common,
    train_with_recovery,
)
from engines.training.config import method_default
from engines.training.monitors import RewardHackingMonitor, pick_samples
from engines.training.preference_common import (
    PreferenceConfig,
    adapter_meta,
    load_policy,
    load_split,
    prompt_dataset,
    resolve,
    run_paths,
    warning_handler,
)
from engines.training.rewards import NEEDS_COLUMN, VERIFIABLE, build_rewards, completion_text, parse_specs

GRPO_LOSS_TYPES = ("dapo", "grpo", "dr_grpo", "bnpo", "cispo", "sapo")
SCALE_REWARDS = ("group", "batch", "none")


@dataclass
class GRPOJobConfig(PreferenceConfig):
    """A GRPO run: LoRA on the base or a starting adapter, rewarded by weighted functions."""

    learning_rate: float = method_default("learning_rate", 1e-5, "RL wants a small one.")
    batch_size: int = method_default("batch_size", 8, "For GRPO these are completions: a multiple of num_generations.")
    eval_fraction: float = method_default("eval_fraction", 0.0, "GRPO reports training rewards; 0 keeps every prompt for training.")

    rewards: Any = field(
        default="exact_match",
        metadata={"help": "Reward functions with weights: 'exact_match, length_penalty:0.2', or JSON like "
                  "[{\"name\": \"reward_model\", \"model\": \"my-rm\"}, {\"name\": \"length_penalty\", \"weight\": 0.2, \"target_chars\": 200}]. "
                  "Names: exact_match, code_tests, format, reward_model, length_penalty, length_bonus (pays for length: a demo of reward hacking)."},
    )
    num_generations: int = field(default=4, metadata={"help": "Completions sampled per prompt (the group); more gives a steadier baseline."})
    max_completion_length: int = field(default=128, metadata={"help": "Tokens per sampled completion; the share hitting it is monitored."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature of the rollouts (exploration)."})
    beta: float = field(default=0.04, metadata={"help": "KL penalty toward the reference (0: none, and KL is not computed)."})
    loss_type: str = field(default="dapo", metadata={"help": "GRPO loss normalisation: " + ", ".join(GRPO_LOSS_TYPES) + "."})
    scale_rewards: str = field(default="group", metadata={"help": "Divide each advantage by the reward spread of its group (group), of the "
                               "batch (batch), or not at all (none, as Dr. GRPO). With 'group', a group whose samples differ only "
                               "by a small format reward pushes as hard as one where some samples are right."})
    human_ratings_file: str = field(default="", metadata={"help": "JSONL of held-out human preference pairs. The policy's agreement with them is "
                                    "checked while the reward rises (for reward-model runs the studio uses the reward model's eval split)."})
    human_ratings_max: int = field(default=32, metadata={"help": "How many held-out pairs the agreement check reads (each costs two forward passes)."})
    completion_prefix: str = field(default="", metadata={"help": "Text every rollout starts with, as the chat's prefill does (e.g. '<think>\\n' "
                                   "to train reasoning mode). It is read by the rewards but not trained on."})
    think_calculator: bool = field(default=False, metadata={"help": "Rollouts as the chat's reasoning mode with 'Exact arithmetic in thinking': "
                                   "a thinking line ending in arithmetic stops at '=' and the calculator writes the result "
                                   "(not trained on). The rewards then judge the plan, not the model's digits."})

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.rewards, str):  # from `--set rewards=...`
            self.rewards = parse_rewards_text(self.rewards)
        check(self.num_generations >= 2, "num_generations must be at least 2: GRPO compares completions within a group")
        check(self.batch_size % self.num_generations == 0,
              f"batch_size {self.batch_size} must be a multiple of num_generations {self.num_generations}",
              f"use batch_size {self.num_generations * max(1, self.batch_size // self.num_generations)}")
        check(self.max_completion_length >= 1, "max_completion_length must be at least 1")
        check(self.temperature > 0, "temperature must be positive")
        check(self.beta >= 0, "beta cannot be negative")
        check(self.human_ratings_max >= 1, "human_ratings_max must be at least 1")
        check(self.loss_type in GRPO_LOSS_TYPES, f"loss_type {self.loss_type!r} is not one of {', '.join(GRPO_LOSS_TYPES)}")
        check(self.scale_rewards in SCALE_REWARDS, f"scale_rewards {self.scale_rewards!r} is not one of {', '.join(SCALE_REWARDS)}")
        try:
            parse_specs(self.rewards)
        except ValueError as e:
            raise TrainingError(f"Bad rewards setting: {e}", hint="see the rewards field's help") from e


def parse_rewards_text(text: str) -> list:
    """'exact_match,length_penalty:0.2' or a JSON list -> the rewards setting."""
    from engines.training.preference_common import parse_structured

    text = text.strip()
    if text.startswith("["):
        try:
            return parse_structured(text)
        except ValueError as e:
            raise TrainingError(f"rewards: {e}", hint="e.g. [{\"name\": \"exact_match\"}]") from e
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition(":")
        try:
            out.append({"name": name.strip(), "weight": float(weight) if weight else 1.0})
        except ValueError:
            raise TrainingError(f"rewards: weight {weight!r} of {name!r} is not a number", hint="e.g. exact_match,length_penalty:0.2") from None
    return out


class RolloutObserver:
    """Wraps the reward functions to see each batch of completions with every reward."""

    def __init__(self, names: list[str], weights: list[float]):
        self.names = names
        self.weights = weights
        self._pending: dict[str, list] = {}
        self._batch: dict[str, Any] | None = None
        self.batches: list[dict[str, Any]] = []

    def wrap(self, fn, name: str):
        def observed(prompts, completions, completion_ids=None, **kw):
            out = fn(prompts, completions, completion_ids=completion_ids, **kw)
            if self._batch is None or self._batch["completions"] is not completions:
                self._batch = {"prompts": prompts, "completions": completions,
                               "lengths": [len(c) for c in completion_ids] if completion_ids is not None else None,
                               "answer": kw.get("answer")}
                self._pending = {}
            self._pending[name] = out
            if len(self._pending) == len(self.names):
                self.batches.append({**self._batch, "per_func": dict(self._pending)})
                self._batch, self._pending = None, {}
            return out

        observed.__name__ = name
        return observed

    def drain(self) -> list[dict[str, Any]]:
        out, self.batches = self.batches, []
        return out

    def totals(self, per_func: dict[str, list]) -> list[float]:
        n = len(next(iter(per_func.values())))
        total = [0.0] * n
        for name, w in zip(self.names, self.weights):
            for i, v in enumerate(per_func[name]):
                if v is not None and not (isinstance(v, float) and math.isnan(v)):
                    total[i] += w * float(v)
        return total


def human_agreement(model, tokenizer, pairs) -> float:
    """Share of held-out human pairs where the policy gives the chosen answer the higher
    log-probability. The reward model's score is the target; this is the independent check."""
    from engines.training.dpo import completion_logprob

    was_training = model.training
    model.eval()
    agree = sum(
        completion_logprob(model, tokenizer, r["prompt"], r["chosen"]) > completion_logprob(model, tokenizer, r["prompt"], r["rejected"])
        for r in pairs
    )
    if was_training:
        model.train()
    return agree / max(1, len(pairs))


def _monitor_callback(observer: RolloutObserver, cfg: GRPOJobConfig, emit: Emit, on_warning, tokenizer=None, human_pairs=None):
    """Runs before the progress callback in on_log: adds solved share and monitor metrics to the
    same log, and emits samples and warnings."""
    from transformers import TrainerCallback

    mcfg = cfg.monitor_config
    monitor = RewardHackingMonitor(mcfg, max_length=cfg.max_completion_length)
    verifiable = [n for n in observer.names if n in VERIFIABLE]

    class _Monitor(TrainerCallback):
        def __init__(self):
            self.rewards: list[float] = []
            self.warnings: list[dict[str, Any]] = []

        def on_log(self, args, state, control, logs=None, **kw):
            batches = observer.drain()
            if logs is None or not batches or any(k.startswith("eval_") for k in logs):
                return
            prompts = [p for b in batches for p in b["prompts"]]
            texts = [completion_text(c) for b in batches for c in b["completions"]]
            totals = [t for b in batches for t in observer.totals(b["per_func"])]
            lengths = [x for b in batches for x in (b["lengths"] or [len(completion_text(c)) for c in b["completions"]])]
            # trl's groups: each batch holds num_generations samples of a prompt in a row
            groups = [(bi, i // cfg.num_generations) for bi, b in enumerate(batches) for i in range(len(b["completions"]))]
            self.rewards.append(sum(totals) / len(totals))
            if verifiable:
                solved = [
                    any((b["per_func"][n][i] or 0.0) >= 1.0 for n in verifiable)
                    for b in batches for i in range(len(b["completions"]))
                ]
                logs["solved"] = sum(solved) / len(solved)
            kl = logs.get("kl")
            due = state.global_step % mcfg.sample_every == 0 or state.global_step == 1
            agreement = None
            if human_pairs and due and kw.get("model") is not None:
                agreement = human_agreement(kw["model"], tokenizer, human_pairs)
            metrics, warnings = (
                monitor.observe(state.global_step, texts, totals, lengths, kl=kl, agreement=agreement, groups=groups) if mcfg.enabled else ({}, [])
            )
            metrics.pop("monitor/kl", None)  # trl's own `kl` is charted already
            logs.update(metrics)
            _order_for_charts(logs)
            if mcfg.enabled and due:
                per_func = {n: [v for b in batches for v in b["per_func"][n]] for n in observer.names}
                emit("samples", step=state.global_step,
                     samples=pick_samples(prompts, texts, totals, mcfg.samples_per_log, length=lengths, **per_func))
            for w in warnings:
                self.warnings.append(w)
                on_warning(w)

    return _Monitor()


# trl logs ~40 numbers a step; the Jobs page charts each. Keep the ones a user reads, reward first.
_CHART_FIRST = ("reward", "solved", "kl", "completions/mean_length", "completions/clipped_ratio")
_CHART_LAST = ("loss", "grad_norm", "learning_rate", "entropy", "epoch")


def _order_for_charts(logs: dict) -> None:
    keep = [k for k in _CHART_FIRST if k in logs]
    keep += sorted(k for k in logs if k.startswith("rewards/") and k.endswith("/mean"))
    keep += [k for k in logs if k.startswith("monitor/")]
    keep += [k for k in _CHART_LAST if k in logs]
    ordered = {k: logs[k] for k in keep}
    logs.clear()
    logs.update(ordered)


def run_grpo(
    cfg: GRPOJobConfig,
    emit: Emit,
    should_stop: ShouldStop,
    *,
    workdir: str | os.PathLike | None = None,
    request_stop=None,
) -> dict[str, Any]:
    """Train a GRPO adapter. Result: adapter_dir, first/last mean reward, solved share, warnings."""
    import torch
    from trl import GRPOConfig, GRPOTrainer

    base, ckpt_dir, out_dir = run_paths(cfg, workdir)
    stop_flag: list[str] = []

    # -- setup --
    torch.manual_seed(cfg.seed)
    specs = parse_specs(cfg.rewards)
    needs = {s.name: NEEDS_COLUMN[s.name] for s in specs if s.name in NEEDS_COLUMN}
    train_ds, _ = load_split(cfg, base, lambda rows, src: prompt_dataset(rows, src, needs))
    model, tokenizer, info, peft_config = load_policy(cfg, emit)
    template_training = tokenizer.chat_template
    funcs, weights, names = build_rewards(specs, base_model_dir=cfg.base_model_path)
    observer = RolloutObserver(names, weights)
    funcs = [observer.wrap(f, n) for f, n in zip(funcs, names)]

    on_warning = warning_handler(cfg, emit, stop_flag, request_stop)

    common = trainer_args_common(cfg, info["device"], info["precision"], ckpt_dir / STAGING)
    common["per_device_eval_batch_size"] = cfg.num_generations
    args = GRPOConfig(
        **common,
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length,
        temperature=cfg.temperature,
        beta=cfg.beta,
        loss_type=cfg.loss_type,
        scale_rewards=cfg.scale_rewards,
        reward_weights=weights,
        eval_strategy="no",
        log_completions=False,
        shuffle_dataset=True,
    )
    args.remove_unused_columns = False  # the rewards read `answer` and `tests`
    callback = make_callback(emit, lambda: should_stop() or bool(stop_flag), ckpt_dir, cfg)
    human_pairs = None
    if cfg.human_ratings_file:
        from engines.training.common import read_jsonl
        from engines.training.preference_common import preference_dataset

        path = resolve(cfg.human_ratings_file, base)
        human_pairs = list(preference_dataset(read_jsonl(path), cfg.human_ratings_file))[: cfg.human_ratings_max]
    mon = _monitor_callback(observer, cfg, emit, on_warning, tokenizer, human_pairs)
    extra = {}
    if cfg.completion_prefix or cfg.think_calculator:
        from engines.training.rollouts import thinking_rollout

        os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is documented as experimental
        extra["rollout_func"] = thinking_rollout(tokenizer, prefix=cfg.completion_prefix, calculator=cfg.think_calculator,
                                                 max_new_tokens=cfg.max_completion_length)
    trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=args, train_dataset=train_ds,
                          processing_class=tokenizer, peft_config=peft_config, callbacks=[mon, callback], **extra)
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    emit("log", message=f"{info['device']} · {len(train_ds)} prompts x {cfg.num_generations} completions · rewards: "
         + ", ".join(f"{n} x{w:g}" for n, w in zip(names, weights)) + f" · {trainable:,} trainable")

    # -- train --
    resume = resolve(cfg.resume_from, base) if cfg.resume_from else None
    output = train_with_recovery(trainer, resume, batch_size=cfg.batch_size, max_length=cfg.max_length)
    r = mon.rewards
    k = max(1, min(5, len(r) // 4))  # average a few steps at each end: single steps are noisy
    solved = [h["solved"] for h in callback.history if "solved" in h]
    result = run_result("grpo", trainer, output, callback, cfg, info, trainable, {
        "rewards": names,
        "reward_weights": weights,
        "reward_first": sum(r[:k]) / k if r else None,
        "reward_last": sum(r[-k:]) / k if r else None,
        "solved_first": sum(solved[:k]) / k if solved else None,
        "solved_last": sum(solved[-k:]) / k if solved else None,
        "kl_last": next((h["kl"] for h in reversed(callback.history) if "kl" in h), None),
        "warnings": mon.warnings,
    }, stop_flag)
    if callback.stopped:
        return result

    # -- save --
    meta = adapter_meta("grpo", cfg, reward_first=result["reward_first"], reward_last=result["reward_last"])
    save_result(trainer, tokenizer, out_dir, template_training, meta, result, emit)
    return result


def run_job(config: dict[str, Any], ctx) -> dict[str, Any]:
    """The job child's entry (engines.run_job JOB_KINDS['grpo'])."""
    return run_training_job(GRPOJobConfig, run_grpo, config, ctx, can_self_stop=True)


def main(argv: list[str] | None = None) -> int:
    return yaml_main(GRPOJobConfig, run_grpo, "engines.training.grpo", argv)


if __name__ == "__main__":
    sys.exit(main())

"""Reward model training: trl's RewardTrainer with LoRA on a sequence-classification head.

A reward model reads a prompt and an answer and returns one number: higher means people
would prefer it. It learns from ranked pairs (a `preference` dataset: prompt, chosen,
rejected) with the Bradley-Terry loss -log sigmoid(r_chosen - r_rejected). The studio then
uses it to score answers (Rate and Compare views) and as a reward in GRPO.

`run_reward(cfg, emit, should_stop)` reads top to bottom: setup -> measure the untrained
model on the eval split -> train (eval accuracy and margin reported live) -> measure again
-> save the adapter (LoRA + the trained score head). On the eval split it also checks the
model for a length bias, the most common way a reward model is gamed.

    python -m engines.training.reward config.yaml
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
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
from engines.training.monitors import RewardHackingMonitor
from engines.training.preference_common import (
    PreferenceConfig,
    adapter_meta,
    load_split,
    preference_dataset,
    resolve,
    run_paths,
    warning_handler,
)


MIN_LENGTH_PAIRS = 10  # held-out pairs of unequal length needed before judging a length bias


@dataclass
class RewardJobConfig(PreferenceConfig):
    """A reward-model run: LoRA on the base (or a fine-tune) with a 1-output score head."""

    learning_rate: float = method_default("learning_rate", 1e-4, "The score head is new, so a little higher than DPO.")

    center_rewards_coefficient: float = field(default=0.0, metadata={"help": "Pulls the mean reward toward 0 (0: off; 0.01 is trl's suggestion)."})
    length_bias_threshold: float = field(default=0.25, metadata={"help": "Warn when the model prefers the longer answer this much more often than the human ratings did."})

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.center_rewards_coefficient >= 0, "center_rewards_coefficient cannot be negative")
        check(0 < self.length_bias_threshold <= 1, "length_bias_threshold must be in (0, 1]")


# ---- scoring (also used by the studio's "score these answers" and the GRPO reward) -------------


def pair_messages(prompt: Any, completion: Any) -> list[dict[str, str]]:
    """prompt + answer as one conversation, exactly as the reward job formats its pairs."""
    msgs = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    msgs += [{"role": "assistant", "content": completion}] if isinstance(completion, str) else list(completion)
    return msgs


def score_texts(model, tokenizer, conversations: Sequence[list[dict]], *, batch_size: int = 8, max_length: int = 512) -> list[float]:
    """The reward model's score of each conversation (prompt + answer)."""
    import torch

    scores: list[float] = []
    model.eval()
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id
    for i in range(0, len(conversations), batch_size):
        ids = [
            tokenizer.apply_chat_template(c, tokenize=True, return_dict=True)["input_ids"][-max_length:]
            for c in conversations[i : i + batch_size]
        ]
        width = max(len(x) for x in ids)
        input_ids = torch.full((len(ids), width), pad, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for j, x in enumerate(ids):  # right padding: the classifier reads the last real token
            input_ids[j, : len(x)] = torch.tensor(x)
            mask[j, : len(x)] = 1
        with torch.inference_mode():
            logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits
        scores += [float(v) for v in logits[:, 0].float().cpu()]
    return scores


def load_reward_model(model_dir: str | os.PathLike, adapter_dir: str | os.PathLike | None):
    """(model, tokenizer) of a trained reward model, ready to score, in eval mode."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok_dir = adapter_dir if adapter_dir and (Path(adapter_dir) / "tokenizer_config.json").exists() else model_dir
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1, dtype=torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id
    if adapter_dir:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_dir))
    model.eval()
    return model, tokenizer


def _text(v: Any) -> str:
    return v if isinstance(v, str) else "".join(m.get("content", "") for m in v)


@dataclass
class PairEval:
    accuracy: float  # share of held-out pairs where the model agrees with the human choice
    margin: float  # mean r_chosen - r_rejected
    longer_preferred_model: float  # share of pairs where the model scores the longer answer higher
    longer_preferred_human: float  # share of pairs where the human chose the longer answer
    length_pairs: int  # pairs whose answers differ in length (the two shares above count these)
    scores: list[float]  # chosen then rejected
    lengths: list[int]
    texts: list[str]

    def metrics(self, prefix: str = "eval_") -> dict[str, float]:
        return {
            f"{prefix}accuracy": round(self.accuracy, 4),
            f"{prefix}margin": round(self.margin, 4),
            "monitor/longer_preferred_model": round(self.longer_preferred_model, 4),
            "monitor/longer_preferred_human": round(self.longer_preferred_human, 4),
        }


def evaluate_pairs(model, tokenizer, dataset, *, max_length: int = 512) -> PairEval:
    """Pairwise accuracy and margin of a reward model on held-out preference pairs."""
    chosen = [pair_messages(r["prompt"], r["chosen"]) for r in dataset]
    rejected = [pair_messages(r["prompt"], r["rejected"]) for r in dataset]
    was_training = model.training
    sc = score_texts(model, tokenizer, chosen, max_length=max_length)
    sr = score_texts(model, tokenizer, rejected, max_length=max_length)
    if was_training:
        model.train()
    n = max(1, len(sc))
    lc = [len(_text(r["chosen"])) for r in dataset]
    lr = [len(_text(r["rejected"])) for r in dataset]
    return PairEval(
        accuracy=sum(a > b for a, b in zip(sc, sr)) / n,
        margin=sum(a - b for a, b in zip(sc, sr)) / n,
        longer_preferred_model=sum((a > b) == (x > y) for a, b, x, y in zip(sc, sr, lc, lr) if x != y) / max(1, sum(x != y for x, y in zip(lc, lr))),
        longer_preferred_human=sum(x > y for x, y in zip(lc, lr) if x != y) / max(1, sum(x != y for x, y in zip(lc, lr))),
        length_pairs=sum(x != y for x, y in zip(lc, lr)),
        scores=sc + sr,
        lengths=lc + lr,
        texts=[_text(r["chosen"]) for r in dataset] + [_text(r["rejected"]) for r in dataset],
    )


def _eval_callback(eval_ds, tokenizer, cfg: RewardJobConfig, emit: Emit, on_warning):
    """At each evaluation: agreement with the held-out human ratings, margin and length bias."""
    from transformers import TrainerCallback

    monitor = RewardHackingMonitor(cfg.monitor_config)

    class _RMEval(TrainerCallback):
        def __init__(self):
            self.history: list[dict[str, float]] = []
            self.warnings: list[dict[str, Any]] = []

        def on_evaluate(self, args, state, control, model=None, **kw):
            ev = evaluate_pairs(model, tokenizer, eval_ds, max_length=cfg.max_length)
            metrics, warnings = monitor.observe(state.global_step, ev.texts, ev.scores, ev.lengths, agreement=ev.accuracy)
            metrics.update(ev.metrics("rm/"))
            self.history.append({"step": state.global_step, **metrics})
            emit("progress", step=state.global_step, total=state.max_steps, **metrics)
            bias = ev.longer_preferred_model - ev.longer_preferred_human
            # below ~10 pairs a share is mostly noise: no verdict
            if bias > cfg.length_bias_threshold and ev.length_pairs >= MIN_LENGTH_PAIRS and "length_bias" not in monitor.fired:
                w = {
                    "monitor": "length_bias",
                    "message": f"the reward model prefers the longer answer in {ev.longer_preferred_model:.0%} of held-out pairs, "
                    f"the human ratings in {ev.longer_preferred_human:.0%}: it may be rewarding length, not quality",
                    "step": state.global_step,
                }
                monitor.fired["length_bias"] = w
                warnings.append(w)
            for w in warnings:
                self.warnings.append(w)
                on_warning(w)

    return _RMEval()


def run_reward(
    cfg: RewardJobConfig,
    emit: Emit,
    should_stop: ShouldStop,
    *,
    workdir: str | os.PathLike | None = None,
    request_stop=None,
) -> dict[str, Any]:
    """Train a reward model. Result: adapter_dir, eval accuracy/margin before and after, ..."""
    import torch
    from trl import RewardConfig, RewardTrainer

    base, ckpt_dir, out_dir = run_paths(cfg, workdir)
    stop_flag: list[str] = []

    # -- setup --
    torch.manual_seed(cfg.seed)
    if cfg.adapter_path:
        raise TrainingError(
            "A reward model starts from a base model, not from an adapter",
            hint="pick the fine-tune's base model; the score head and LoRA are trained from there",
        )
    from engines.training.common import ensure_hf_base, load_base, lora_config

    ensure_hf_base(cfg.base_model_path, cfg.base_gguf, emit)
    emit("log", message=f"loading base model {cfg.base_model_path} with a score head")
    model, tokenizer, info = load_base(
        cfg.base_model_path, template=cfg.chat_template, template_text=cfg.chat_template_text,
        precision=cfg.precision, qlora=cfg.qlora, gradient_checkpointing=cfg.gradient_checkpointing,
        model_cls="sequence-classification", num_labels=1,
    )
    template_training = tokenizer.chat_template
    train_ds, eval_ds = load_split(cfg, base, preference_dataset)
    if eval_ds is None:
        raise TrainingError(
            "A reward model needs held-out pairs to report its accuracy",
            hint="set eval_fraction above 0 (0.1 is usual) or give an eval_file, with at least 4 rows in the dataset",
        )
    peft_config = lora_config(cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.target_modules, task_type="SEQ_CLS")

    on_warning = warning_handler(cfg, emit, stop_flag, request_stop)

    args = RewardConfig(
        **trainer_args_common(cfg, info["device"], info["precision"], ckpt_dir / STAGING),
        max_length=cfg.max_length,
        center_rewards_coefficient=cfg.center_rewards_coefficient or None,
        eval_strategy="steps",
        eval_steps=cfg.eval_steps or cfg.save_steps or 50,
        dataset_num_proc=None,
        disable_dropout=True,
    )
    callback = make_callback(emit, lambda: should_stop() or bool(stop_flag), ckpt_dir, cfg)
    rm_eval = _eval_callback(eval_ds, tokenizer, cfg, emit, on_warning)
    trainer = RewardTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=eval_ds,
                            processing_class=tokenizer, peft_config=peft_config, callbacks=[callback, rm_eval])
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    emit("log", message=f"{info['device']} · {len(train_ds)} train pairs, {len(eval_ds)} held out · {trainable:,} trainable")

    resume = resolve(cfg.resume_from, base) if cfg.resume_from else None
    before = evaluate_pairs(trainer.model, tokenizer, eval_ds, max_length=cfg.max_length)
    emit("progress", step=0, total=trainer.args.max_steps if trainer.args.max_steps > 0 else 0, **before.metrics("rm/"))

    # -- train --
    output = train_with_recovery(trainer, resume, batch_size=cfg.batch_size, max_length=cfg.max_length)
    after = evaluate_pairs(trainer.model, tokenizer, eval_ds, max_length=cfg.max_length)
    result = run_result("reward", trainer, output, callback, cfg, info, trainable, {
        "eval_accuracy_before": before.accuracy,
        "eval_accuracy": after.accuracy,
        "eval_margin_before": before.margin,
        "eval_margin": after.margin,
        "eval_pairs": len(eval_ds),
        "longer_preferred_model": after.longer_preferred_model,
        "longer_preferred_human": after.longer_preferred_human,
        "warnings": rm_eval.warnings,
    }, stop_flag)
    emit("metrics", step=trainer.state.global_step, **after.metrics("rm/"))
    if callback.stopped:
        return result

    # -- save --
    meta = adapter_meta("reward", cfg, eval_accuracy=after.accuracy, eval_margin=after.margin, task="sequence-classification")
    save_result(trainer, tokenizer, out_dir, template_training, meta, result, emit, artifact="reward_model")
    return result


def run_job(config: dict[str, Any], ctx) -> dict[str, Any]:
    """The job child's entry (engines.run_job JOB_KINDS['reward'])."""
    return run_training_job(RewardJobConfig, run_reward, config, ctx, can_self_stop=True)


def main(argv: list[str] | None = None) -> int:
    return yaml_main(RewardJobConfig, run_reward, "engines.training.reward", argv)


if __name__ == "__main__":
    sys.exit(main())

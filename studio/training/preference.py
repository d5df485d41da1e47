"""Preference training in the studio: the reward / dpo / grpo methods, and scoring with an RM.

Imported by the package's __init__ after SFT; this module registers the methods into the
wizard and `studio train`:
- reward: a reward model from a preference dataset (the Rate view and Compare votes feed it);
- dpo: DPO from the same pairs, from the base or on top of an adapter (the reference);
- grpo: RL on a prompt dataset with weighted rewards, one of which can be a trained RM.

`score_answers(studio, rm_name, prompt, answers)` scores answers with a trained reward model,
for the Rate and Compare views. It loads torch and the model, so the UI calls it in a worker
thread, never on the GUI thread; the loaded model is cached per process.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from studio.errors import UserError
from studio.training.methods import adapter_model, register_method, starting_adapter

# Presets are data: the overrides each applies to the method's config dataclass.
_COMMON = {
    "quick": {"label": "Quick", "description": "A short run to see the curves move (minutes on a laptop).",
              "config": {"lora_r": 8, "lora_alpha": 16, "max_steps": 40, "batch_size": 4, "max_length": 256, "save_steps": 20}},
    "balanced": {"label": "Balanced", "description": "One pass over the data at rank 16.",
                 "config": {"lora_r": 16, "lora_alpha": 32, "epochs": 1.0, "max_steps": -1, "batch_size": 4,
                            "gradient_accumulation_steps": 2, "max_length": 512, "save_steps": 50}},
    "thorough": {"label": "Thorough", "description": "Two passes at rank 32, for the final run on curated data.",
                 "config": {"lora_r": 32, "lora_alpha": 64, "epochs": 2.0, "max_steps": -1, "batch_size": 4,
                            "gradient_accumulation_steps": 4, "max_length": 1024, "save_steps": 100}},
}


def _presets(extra: dict[str, dict[str, Any]]) -> dict[str, dict]:
    return {k: {**v, "config": {**v["config"], **extra.get(k, {})}} for k, v in _COMMON.items()}


REWARD_PRESETS = _presets({"quick": {"learning_rate": 1e-4}, "balanced": {"learning_rate": 5e-5}, "thorough": {"learning_rate": 2e-5}})
DPO_PRESETS = _presets({
    "quick": {"learning_rate": 5e-5, "beta": 0.1},
    "balanced": {"learning_rate": 2e-5, "beta": 0.1},
    "thorough": {"learning_rate": 1e-5, "beta": 0.1},
})
GRPO_PRESETS = _presets({
    # RL steps are generation-bound: fewer, with short completions first
    "quick": {"learning_rate": 1e-5, "max_steps": 30, "batch_size": 8, "num_generations": 4, "max_completion_length": 64},
    "balanced": {"learning_rate": 1e-5, "max_steps": 200, "batch_size": 8, "num_generations": 8, "max_completion_length": 256,
                 "gradient_accumulation_steps": 1},
    "thorough": {"learning_rate": 5e-6, "max_steps": 500, "batch_size": 16, "num_generations": 8, "max_completion_length": 512,
                 "gradient_accumulation_steps": 1},
})


def _config(kind: str):
    if kind == "reward":
        from engines.training.reward import RewardJobConfig

        return RewardJobConfig
    if kind == "dpo":
        from engines.training.dpo import DPOJobConfig

        return DPOJobConfig
    from engines.training.grpo import GRPOJobConfig

    return GRPOJobConfig


def _prepare_reward(studio, plan: dict) -> dict:
    if plan.get("adapter"):
        raise UserError("A reward model is trained from a base model, not from an adapter",
                        hint="drop --adapter; the reward model gets its own score head and LoRA")
    return {}


def _prepare_grpo(studio, plan: dict) -> dict:
    """Resolve `{"name": "reward_model", "model": RM_NAME}` rewards to the RM's folders."""
    from engines.training.grpo import parse_rewards_text
    from studio.models.hf_cache import hf_dir_for

    out = starting_adapter(studio, plan)
    rewards = plan["config"].get("rewards")
    if isinstance(rewards, str):
        rewards = parse_rewards_text(rewards)
    if rewards is None:
        return out
    resolved = []
    for spec in rewards:
        spec = dict(spec) if isinstance(spec, dict) else {"name": spec}
        if spec["name"] == "reward_model" and not spec.get("adapter_dir"):
            if not spec.get("model"):
                raise UserError("The reward_model reward needs the reward model's name",
                                hint='e.g. --set \'rewards=[{"name": "reward_model", "model": "my-rm"}]\'')
            rm = _reward_model(studio, spec.pop("model"))
            spec["adapter_dir"] = rm.path
            spec["model_dir"] = str(hf_dir_for(studio.home, studio.registry.get(rm.parent_id)))
            if not plan["config"].get("human_ratings_file"):
                ratings = _heldout_ratings(studio, rm)
                if ratings:
                    out["human_ratings_file"] = ratings
        resolved.append(spec)
    out["rewards"] = resolved
    return out


def _heldout_ratings(studio, rm) -> str | None:
    """The eval split of the dataset version the reward model learned from, as JSONL: the
    held-out human ratings an RM-rewarded run is checked against."""
    from studio.datasets.rows import count_rows, resolve_version_by_id
    from studio.training.service import TrainingService

    if not rm.dataset_version_id:
        return None
    v = resolve_version_by_id(studio.db, rm.dataset_version_id)
    if not any(count_rows(studio.db, v.id, split) for split in ("eval", "validation", "test")):
        return None
    files = TrainingService(studio).write_data({
        "dataset_hash": v.content_hash, "dataset_version_id": v.id, "dataset": v.dataset.name, "dataset_version": v.version,
    })
    return files.get("eval_file")


def _reward_model(studio, name: str):
    m = adapter_model(studio, name)
    if (m.meta or {}).get("method") != "reward":
        raise UserError(f"{m.name!r} is not a reward model (it was trained with {(m.meta or {}).get('method', 'unknown')})",
                        hint="train one with `studio train reward` on a preference dataset")
    if m.parent_id is None:
        raise UserError(f"Reward model {m.name!r} has no base model recorded", hint="train it again from a base model")
    return m


# ---- scoring with a reward model (Rate and Compare views) -----------------------------------------
_LOADED: dict[str, tuple[Any, Any]] = {}
_LOAD_LOCK = threading.Lock()


def score_answers(studio, rm_name: str, prompt: Any, answers: list[Any]) -> list[float]:
    """The reward model's score of each answer to `prompt` (higher: preferred). Slow the first
    time (loads the model): call it from a worker thread."""
    from studio.models.hf_cache import hf_dir_for

    if not answers:
        return []
    rm = _reward_model(studio, rm_name)
    base_dir = hf_dir_for(studio.home, studio.registry.get(rm.parent_id))
    if not (Path(base_dir) / "config.json").exists():
        raise UserError(f"The base of {rm.name!r} has no Hugging Face copy yet ({base_dir})",
                        hint="it is made when a training job first uses that base")
    with _LOAD_LOCK:
        if rm.path not in _LOADED:
            from engines.training.reward import load_reward_model

            _LOADED[rm.path] = load_reward_model(base_dir, rm.path)
        model, tokenizer = _LOADED[rm.path]
        from engines.training.reward import pair_messages, score_texts

        return score_texts(model, tokenizer, [pair_messages(prompt, a) for a in answers])


register_method(
    "reward", "Reward model (from ranked pairs)", ("preference",), _config("reward"),
    presets=REWARD_PRESETS, prepare=_prepare_reward,
    description="Learn a scorer from A-better-than-B ratings; use it to score answers and as an RL reward.",
)
register_method(
    "dpo", "DPO (direct preference optimisation)", ("preference",), _config("dpo"),
    presets=DPO_PRESETS, prepare=starting_adapter,
    description="Move the model toward the chosen answers and away from the rejected ones, against a frozen reference.",
)
register_method(
    "grpo", "GRPO (RL with verifiable rewards)", ("prompt",), _config("grpo"),
    presets=GRPO_PRESETS, prepare=_prepare_grpo,
    description="Sample answers, score them (exact answer, code tests, format, a reward model, length) and reinforce the best.",
)

"""What the reward-model, DPO and GRPO engines share beyond engines/training/common.py.

- `PreferenceConfig`: the three methods' base config: TrainingConfig (engines/training/config.py)
  with the starting adapter, the reward-hacking monitor settings and the defaults they share.
- Row checks and conversion of `preference` rows (`{"prompt", "chosen", "rejected"}`) and
  `prompt` rows (`{"prompt", "answer"?, "tests"?}`) into trl's conversational format, with errors
  that name the file, the row and the fix.
- `load_policy`: the base causal LM with the starting adapter (trainable) when there is one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engines.training.common import TrainingError, load_base, read_jsonl
from engines.training.config import TrainingConfig, method_default
from engines.training.monitors import MonitorConfig


@dataclass
class PreferenceConfig(TrainingConfig):
    """What the reward-model, DPO and GRPO configs add to TrainingConfig: the reward-hacking
    monitors, and the defaults they share."""

    lora_dropout: float = method_default("lora_dropout", 0.0, "0 keeps policy and reference log-probs comparable.")
    learning_rate: float = method_default("learning_rate", 5e-5, "Preference methods want ~4x less than SFT.")
    lr_scheduler: str = method_default("lr_scheduler", "constant")
    eval_fraction: float = method_default("eval_fraction", 0.1, "Preference methods measure held-out pairs before and after training.")

    monitors: Any = field(default="", metadata={"help": "Reward-hacking monitor settings, as key=value pairs or JSON, e.g. "
                          "'stop_on_warning=true, sample_every=10, length_growth=2' (see MonitorConfig in engines/training/monitors.py)."})

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            self.monitors = parse_settings(self.monitors)
            self.monitor_config  # noqa: B018 - validates the monitor settings now, not mid-run
        except (TypeError, ValueError) as e:
            raise TrainingError(f"Bad monitor settings: {e}", hint="see MonitorConfig in engines/training/monitors.py") from e

    @property
    def monitor_config(self) -> MonitorConfig:
        return MonitorConfig.from_dict(self.monitors)


def parse_structured(text: str):
    """A list or dict typed into a text field: JSON, or Python's repr of one (the wizard shows that)."""
    import ast
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError) as e:
            raise ValueError(f"cannot read {text!r} as a list or a mapping") from e


def parse_settings(value: Any) -> dict[str, Any]:
    """{...}, '' , JSON text, or 'key=value, key=value' (values read as JSON: true, 2, 0.5)."""
    import json

    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return dict(value)
    text = str(value).strip()
    if text.startswith("{"):
        out = parse_structured(text)
        if not isinstance(out, dict):
            raise ValueError(f"expected a mapping, got {text!r}")
        return out
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, eq, raw = part.partition("=")
        if not eq:
            raise ValueError(f"expected key=value, got {part!r}")
        try:
            out[key.strip()] = json.loads(raw.strip())
        except json.JSONDecodeError:
            out[key.strip()] = raw.strip()
    return out


def resolve(path: str, base: Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else base / p


def run_paths(cfg: "PreferenceConfig", workdir: str | os.PathLike | None) -> tuple[Path, Path, Path]:
    """(work folder, checkpoint folder (created), adapter output folder) of one run."""
    base = Path(workdir or os.getcwd())
    ckpt_dir = resolve(cfg.checkpoint_dir, base)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    return base, ckpt_dir, resolve(cfg.output_dir, base)


def warning_handler(cfg: "PreferenceConfig", emit, stop_flag: list[str], request_stop=None):
    """What a monitor warning does: an event for the Jobs page banner and, when the run is
    configured to stop on warnings, a recorded reason and a stop request to the job."""

    def on_warning(w: dict[str, Any]) -> None:
        stopping = cfg.monitor_config.stop_on_warning
        emit("warning", **w, stopping=stopping)
        if stopping:
            stop_flag.append(w["monitor"])
            if request_stop:
                request_stop(f"monitor: {w['monitor']}")

    return on_warning


# ---- rows -------------------------------------------------------------------------------------


def _as_messages(value: Any, role: str) -> list[dict[str, str]]:
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    return [{"role": m["role"], "content": m["content"]} for m in value]


def _is_text_or_messages(v: Any) -> bool:
    if isinstance(v, str):
        return bool(v.strip())
    return isinstance(v, list) and bool(v) and all(isinstance(m, dict) and "role" in m and "content" in m for m in v)


def check_preference_rows(rows: list[dict], source: str) -> None:
    for n, r in enumerate(rows, 1):
        if "prompt" in r and "answer" in r and "chosen" not in r:
            raise TrainingError(
                f"{source}: row {n} is a prompt row (prompt/answer), not a preference pair",
                hint="reward models and DPO need a preference dataset with prompt, chosen and rejected; use GRPO for prompt datasets",
            )
        if "messages" in r and "chosen" not in r:
            raise TrainingError(
                f"{source}: row {n} is an SFT conversation, not a preference pair",
                hint="pick a preference dataset (prompt, chosen, rejected), for example one made in the Rate view",
            )
        missing = [k for k in ("prompt", "chosen", "rejected") if k not in r]
        if missing:
            raise TrainingError(f"{source}: row {n} has no {', '.join(missing)}", hint="preference rows need prompt, chosen and rejected")
        for k in ("prompt", "chosen", "rejected"):
            if not _is_text_or_messages(r[k]):
                raise TrainingError(f"{source}: row {n}: {k!r} is empty or not text/messages", hint="fix or drop that row in the dataset")
        if r["chosen"] == r["rejected"]:
            raise TrainingError(f"{source}: row {n}: chosen and rejected are identical, so there is nothing to prefer", hint="drop that row")


def preference_dataset(rows: list[dict], source: str):
    """Preference rows as trl's conversational preference dataset (prompt / chosen / rejected)."""
    from datasets import Dataset

    check_preference_rows(rows, source)
    return Dataset.from_list([
        {
            "prompt": _as_messages(r["prompt"], "user"),
            "chosen": _as_messages(r["chosen"], "assistant"),
            "rejected": _as_messages(r["rejected"], "assistant"),
        }
        for r in rows
    ])


def prompt_dataset(rows: list[dict], source: str, needs: dict[str, str]):
    """Prompt rows as trl's conversational prompt dataset; `needs` maps reward name -> column."""
    from datasets import Dataset

    for n, r in enumerate(rows, 1):
        if "chosen" in r and "rejected" in r:
            raise TrainingError(
                f"{source}: row {n} is a preference pair, not a prompt row",
                hint="GRPO needs a prompt dataset; train a reward model or DPO on preference data",
            )
        if "prompt" not in r or not _is_text_or_messages(r["prompt"]):
            raise TrainingError(f"{source}: row {n} has no prompt", hint="prompt rows look like {\"prompt\": ..., \"answer\": ...}")
        for reward, column in needs.items():
            v = r.get(column)
            if v is None or (isinstance(v, (str, list)) and not v):
                raise TrainingError(
                    f"{source}: row {n} has no {column!r}, which the {reward} reward needs",
                    hint=f"add {column!r} to every row, or drop the {reward} reward",
                )
    out = []
    for r in rows:
        item: dict[str, Any] = {"prompt": _as_messages(r["prompt"], "user")}
        item["answer"] = "" if r.get("answer") is None else str(r["answer"])
        tests = r.get("tests")
        item["tests"] = "\n".join(tests) if isinstance(tests, list) else (tests or "")
        out.append(item)
    return Dataset.from_list(out)


def load_split(cfg: PreferenceConfig, base: Path, make):
    """(train, eval or None) datasets, with `make(rows, source)` converting rows."""
    train = make(read_jsonl(resolve(cfg.train_file, base)), cfg.train_file)
    if cfg.eval_file:
        return train, make(read_jsonl(resolve(cfg.eval_file, base)), cfg.eval_file)
    if cfg.eval_fraction > 0 and len(train) >= 4:
        split = train.train_test_split(test_size=cfg.eval_fraction, seed=cfg.seed)
        return split["train"], split["test"]
    return train, None


# ---- model ------------------------------------------------------------------------------------


def load_policy(cfg: PreferenceConfig, emit):
    """(model, tokenizer, info, peft_config or None): with a starting adapter the model is a
    trainable PeftModel and no new LoRA is made; otherwise trl adds the LoRA from peft_config."""
    from engines.training.common import ensure_hf_base, lora_config, open_adapter

    emit("log", message=f"loading base model {cfg.base_model_path}" + (f" with adapter {cfg.adapter_path}" if cfg.adapter_path else ""))
    ensure_hf_base(cfg.base_model_path, cfg.base_gguf, emit)
    model, tokenizer, info = load_base(
        cfg.base_model_path, template=cfg.chat_template, template_text=cfg.chat_template_text,
        precision=cfg.precision, qlora=cfg.qlora, gradient_checkpointing=cfg.gradient_checkpointing,
    )
    if cfg.adapter_path:
        return open_adapter(model, cfg.adapter_path), tokenizer, info, None
    return model, tokenizer, info, lora_config(cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, cfg.target_modules)


def adapter_meta(method: str, cfg: PreferenceConfig, **extra: Any) -> dict[str, Any]:
    return {
        "method": method,
        "chat_template_name": cfg.chat_template,
        "config": cfg.to_dict(),
        "base_model_path": cfg.base_model_path,
        "parent_adapter_path": cfg.adapter_path or None,
        **extra,
    }

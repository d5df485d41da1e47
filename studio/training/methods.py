"""The training-method registry: what the wizard and `studio train` offer, and how `--set` reads.

    register_method("sft", "Supervised fine-tuning (LoRA)", ("sft",), SFTJobConfig,
                    description="Teach the format ...")      # studio.training.sft does this
    m = get_method("dpo")        # Method(name, label, dataset_kinds, config_cls, presets, prepare...)
    field_help(m.config_cls)     # [{"name", "type", "default", "help"}], for --set and the Advanced panel
    parse_overrides(m.config_cls, ["lora_r=8", "max_steps=40"])    # {"lora_r": 8, "max_steps": 40}

A method's name is also its job kind (engines.run_job.JOB_KINDS). This module imports nothing
else of the training package, so the service and each method's module can import it; the
package's __init__ imports the built-in methods (studio.training.sft, then
studio.training.preference), which register themselves in that order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from studio.errors import UserError


# ---- the method registry -----------------------------------------------------------------------
@dataclass
class Method:
    name: str  # the job kind too: engines.run_job.JOB_KINDS[name]
    label: str
    dataset_kinds: tuple[str, ...]
    config_cls: type  # a dataclass with help metadata and __post_init__ validation
    presets: dict[str, dict] = field(default_factory=dict)  # name -> {"label", "description", "config"}
    description: str = ""
    needs_adapter: bool = False  # e.g. GRPO on top of an SFT adapter (the method decides)
    # (studio, plan) -> extra config keys, for methods that need more than the common ones
    prepare: Callable[[Any, dict], dict] | None = None


METHODS: dict[str, Method] = {}


def register_method(
    name: str,
    label: str,
    dataset_kinds: tuple[str, ...] | list[str],
    config_cls: type,
    *,
    presets: dict[str, dict] | None = None,
    description: str = "",
    needs_adapter: bool = False,
    prepare: Callable[[Any, dict], dict] | None = None,
) -> Method:
    """Add a training method to the wizard and to `studio train`. Presets default to SFT's."""
    if presets is None:
        from engines.training.presets import load_presets

        presets = load_presets()
    m = Method(name, label, tuple(dataset_kinds), config_cls, presets, description, needs_adapter, prepare)
    METHODS[name] = m
    return m


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise UserError(f"Unknown training method {name!r}", hint="one of " + ", ".join(METHODS)) from None


# ---- a starting adapter -------------------------------------------------------------------------
def adapter_model(studio, name: str):
    m = studio.registry.get(name)
    if m.kind != "adapter" or m.format != "peft":
        raise UserError(f"{m.name!r} is a {m.kind} ({m.format}), not a LoRA adapter the studio trained",
                        hint="see `studio models list --kind adapter`")
    return m


def starting_adapter(studio, plan: dict) -> dict:
    """A method's `prepare` for `--adapter`: training continues from that adapter (SFT in stages;
    for DPO and GRPO its frozen copy is also the reference). Checked: a trained LoRA adapter of
    the chosen base, not a reward model."""
    if not plan.get("adapter"):
        return {}
    m = adapter_model(studio, plan["adapter"])
    if (m.meta or {}).get("method") == "reward":
        raise UserError(f"{m.name!r} is a reward model; training starts from a base or an SFT/DPO/GRPO adapter",
                        hint="use the reward model as a GRPO reward: --set rewards=... with reward_model")
    if m.parent_id is not None and m.parent_id != plan["base_model_id"]:
        parent = studio.registry.get(m.parent_id)
        raise UserError(f"Adapter {m.name!r} was trained on {parent.name!r}, not on the chosen base",
                        hint=f"pick --base {parent.name!r}")
    return {"adapter_path": m.path, **adapter_lora_fields(m.path)}


def adapter_lora_fields(path: str) -> dict[str, Any]:
    """The LoRA shape the adapter at `path` was trained with (its adapter_config.json), as config
    fields. A job that continues an adapter keeps that shape whatever its preset says, so its
    config (and every lineage that shows it) records the shape that applies."""
    import json
    from pathlib import Path

    try:
        ac = json.loads((Path(path) / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # the job names a missing or unreadable adapter when it opens it
    out: dict[str, Any] = {}
    if isinstance(ac.get("r"), int):
        out["lora_r"] = ac["r"]
    if isinstance(ac.get("lora_alpha"), int | float):
        out["lora_alpha"] = int(ac["lora_alpha"])
    if isinstance(ac.get("lora_dropout"), int | float):
        out["lora_dropout"] = float(ac["lora_dropout"])
    modules = ac.get("target_modules")
    if isinstance(modules, list) and modules:
        out["target_modules"] = ",".join(sorted(modules))
    elif isinstance(modules, str) and modules:
        out["target_modules"] = modules
    return out


# ---- config fields -----------------------------------------------------------------------------
def field_help(config_cls: type) -> list[dict[str, Any]]:
    """Each config field as {name, type, default, help}, for the Advanced panel and --set."""
    from dataclasses import MISSING

    out = []
    for f in fields(config_cls):
        default = f.default if f.default is not MISSING else (f.default_factory() if f.default_factory is not MISSING else None)
        out.append({"name": f.name, "type": type(default).__name__, "default": default, "help": f.metadata.get("help", "")})
    return out


# Fields the studio fills; the Advanced panel hides them.
MANAGED_FIELDS = {
    "base_model_path", "base_gguf", "train_file", "eval_file", "output_dir", "checkpoint_dir", "resume_from",
    "chat_template", "chat_template_text", "adapter_path", "reward_model_path",
}


def parse_overrides(config_cls: type, pairs: list[str]) -> dict[str, Any]:
    """`--set key=value` pairs, typed after the config field's default."""
    types = {f["name"]: f["default"] for f in field_help(config_cls)}
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UserError(f"--set {pair!r}: expected key=value", hint="e.g. --set lora_r=8")
        key, raw = (x.strip() for x in pair.split("=", 1))
        if key not in types:
            raise UserError(f"--set {key}: no such field", hint="fields: " + ", ".join(sorted(types)))
        out[key] = coerce(raw, types[key], key)
    return out


def coerce(raw: str, default: Any, key: str = "") -> Any:
    try:
        if isinstance(default, bool):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
    except ValueError:
        raise UserError(f"{key}={raw!r}: expected a {type(default).__name__}") from None
    return raw



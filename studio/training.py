"""The training service: a base model + a dataset version + a method + a preset -> a job.

    svc = TrainingService(studio)
    plan = svc.plan("sft", base="gemma-3-270m (base)", dataset="greetings", preset="quick",
                    overrides={"max_steps": 40})
    job_id = svc.launch(plan)              # the child runs engines.training.sft:run_job
    ...                                    # on success the runner calls finish_training_job

Methods are pluggable: `register_method(name, label, dataset_kinds, config_cls, ...)`. SFT is
registered here; the preference area registers reward / dpo / grpo from `studio.preference`
(imported at the bottom of this module). The wizard and `studio train` list what is registered.

The result keys every training job returns (its `done` event), which finish_training_job reads:
    adapter_dir         str   the finished PEFT adapter folder (required)
    chat_template       str   the exact *inference* template text, BOS included (else the
                              adapter's chat_template.jinja is read)
    chat_template_name  str   gemma | chatml | llama3 | model
    method              str   sft | reward | dpo | grpo
    steps, total_steps  int;  train_loss, first_loss, last_loss, eval_loss: float | None
    samples_per_s, tokens_per_s, device, precision, trainable_parameters
Any other keys (reward accuracy, KL, ...) are kept in the adapter's meta["metrics"].
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sqlalchemy import select

from studio.db import Database, Dataset, DatasetVersion, Job, JobEvent, Model
from studio.errors import NotFound, StudioError, UserError
from studio.home import Home


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


def _sft_config_cls():
    from engines.training.sft import SFTJobConfig

    return SFTJobConfig


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


# ---- the service -------------------------------------------------------------------------------
class TrainingService:
    """Builds and launches training jobs for one studio. Safe to use from a worker thread."""

    def __init__(self, studio):
        self.studio = studio

    @property
    def db(self) -> Database:
        return self.studio.db

    @property
    def home(self) -> Home:
        return self.studio.home

    # -- choices for the wizard --
    def methods(self) -> list[Method]:
        return list(METHODS.values())

    def base_models(self) -> list[Model]:
        return [m for m in self.studio.registry.list("base") if m.format in ("gguf", "hf")]

    def datasets_for(self, method: str) -> list[dict[str, Any]]:
        """Datasets of the kinds the method trains on, each with its versions and row counts."""
        kinds = get_method(method).dataset_kinds
        out = []
        with self.db.session() as s:
            for ds in s.scalars(select(Dataset).where(Dataset.kind.in_(kinds)).order_by(Dataset.name)):
                versions = [
                    {"id": v.id, "version": v.version, "rows": v.row_count, "note": v.note}
                    for v in sorted(ds.versions, key=lambda v: -v.version)
                ]
                if versions:
                    out.append({"name": ds.name, "kind": ds.kind, "versions": versions})
        return out

    # -- plan: everything a job needs, resolved and validated --
    def plan(
        self,
        method: str,
        *,
        base: str | int,
        dataset: str,
        version: int | None = None,
        preset: str = "quick",
        overrides: dict[str, Any] | None = None,
        template: str | None = None,
        name: str = "",
        adapter: str | None = None,
    ) -> dict[str, Any]:
        """Resolve names, check compatibility, merge preset + overrides and validate the config.
        Cheap: no model loading and no conversion (that happens in `launch`)."""
        from engines.templates import default_template_for, get_template

        m = get_method(method)
        base_model = self.studio.registry.get(base)
        check_trainable(base_model)
        from studio.dataset_rows import resolve_version

        v = resolve_version(self.db, dataset, version)
        if v.dataset.kind not in m.dataset_kinds:
            raise UserError(
                f"Dataset {dataset!r} holds {v.dataset.kind} rows, but {m.label} trains on {' or '.join(m.dataset_kinds)} rows",
                hint=_kind_hint(v.dataset.kind),
            )
        if v.row_count == 0:
            raise UserError(f"Dataset {dataset!r} version {v.version} has no rows", hint="import rows first")
        if preset not in m.presets:
            raise UserError(f"Unknown preset {preset!r}", hint="one of " + ", ".join(m.presets))
        template = template or default_template_for(base_model.architecture)
        if template == "model":
            if not base_model.chat_template:
                raise UserError(f"{base_model.name} has no chat template of its own", hint="pick gemma, chatml or llama3")
            template_text = base_model.chat_template
        else:
            try:
                template_text = get_template(template).training
            except ValueError as e:
                raise UserError(str(e)) from None
        config = {**m.presets[preset]["config"], **(overrides or {})}
        config.update(chat_template=template, chat_template_text=template_text)
        names = {f.name for f in fields(m.config_cls)}
        config = {k: v_ for k, v_ in config.items() if k in names or k in (overrides or {})}
        self.validate(m, config)
        plan = {
            "method": method,
            "base_model_id": base_model.id,
            "base_model": base_model.name,
            "dataset": v.dataset.name,
            "dataset_version_id": v.id,
            "dataset_version": v.version,
            "dataset_hash": v.content_hash,
            "rows": v.row_count,
            "preset": preset,
            "template": template,
            "config": config,
            "name": name or f"{m.label} · {base_model.name} · {v.dataset.name} v{v.version}",
            "adapter": adapter,
        }
        return plan

    def validate(self, m: Method, config: dict[str, Any]) -> None:
        """Run the config class's validation on placeholders for the paths the job fills."""
        from engines.training.common import TrainingError

        probe = {"base_model_path": "base", "train_file": "train.jsonl", **config}
        try:
            m.config_cls(**{k: v for k, v in probe.items() if k in {f.name for f in fields(m.config_cls)}})
        except TrainingError as e:
            raise UserError(e.message, e.hint) from None
        except TypeError as e:
            raise UserError(f"Bad config for {m.label}: {e}") from None
        unknown = sorted(set(config) - {f.name for f in fields(m.config_cls)})
        if unknown:
            raise UserError(f"Unknown {m.label} setting(s): {', '.join(unknown)}", hint="see `studio train fields " + m.name + "`")

    def estimate(self, plan: dict[str, Any]) -> dict[str, Any]:
        """Memory and duration estimate for the review page (no torch)."""
        from engines.training.memory import ModelShape, estimate
        from studio.hardware import detect_device

        base = self.studio.registry.get(plan["base_model_id"])
        shape = None
        hf_dir = self._cached_hf_dir(base)
        if hf_dir is not None:
            shape = ModelShape.from_dir(hf_dir, base.parameters)
        if shape is None:
            shape = ModelShape.guess(base.parameters or 270_000_000)
            if "gemma" in (base.architecture or "").lower():
                shape.vocab_size = 262144
        dev = detect_device()
        mean_chars = self._mean_chars(plan["dataset_version_id"])
        cfg = plan["config"]
        est = estimate(
            shape,
            device=dev.kind,
            free_bytes=dev.free_bytes,
            cores=dev.cores,
            lora_r=int(cfg.get("lora_r", 16)),
            target_modules=str(cfg.get("target_modules", "all-linear")),
            batch_size=int(cfg.get("batch_size", 4)),
            max_length=int(cfg.get("max_length", 512)),
            gradient_checkpointing=bool(cfg.get("gradient_checkpointing", False)),
            qlora=bool(cfg.get("qlora", False)),
            rows=plan["rows"],
            mean_tokens=mean_chars / 3.5 + 12,  # ~3.5 characters a token, plus the template's tokens
            epochs=float(cfg.get("epochs", 1.0)),
            max_steps=int(cfg.get("max_steps", -1)),
            gradient_accumulation_steps=int(cfg.get("gradient_accumulation_steps", 1)),
        )
        return {**est.to_dict(), "device": dev.to_dict()}

    def _mean_chars(self, version_id: int, sample: int = 200) -> float:
        from studio.dataset_rows import iter_rows

        total = n = 0
        for row in iter_rows(self.db, version_id, batch=sample):
            total += len(json.dumps(row, ensure_ascii=False))
            n += 1
            if n >= sample:
                break
        return total / n if n else 0.0

    def _cached_hf_dir(self, base: Model) -> Path | None:
        if base.format == "hf":
            return Path(base.path)
        from studio.hf_cache import hf_dir_for

        conv = hf_dir_for(self.home, base)
        return conv if (conv / "config.json").exists() else None

    # -- launch --
    def write_data(self, plan: dict[str, Any]) -> dict[str, str]:
        """Write the version's rows as JSONL (train, and eval if the version has an eval split).
        Content-addressed by the version hash, so clones and re-runs share the files."""
        from studio.dataset_rows import iter_rows

        folder = self.home.jobs / "_data" / plan["dataset_hash"][:16]
        folder.mkdir(parents=True, exist_ok=True)
        files: dict[str, str] = {}
        for key, splits in (("train_file", ("train",)), ("eval_file", ("eval", "validation", "test"))):
            path = folder / ("train.jsonl" if key == "train_file" else "eval.jsonl")
            if not path.exists():
                tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
                count = 0
                with open(tmp, "w", encoding="utf-8") as f:
                    for split in splits:
                        for row in iter_rows(self.db, plan["dataset_version_id"], split=split):
                            f.write(json.dumps(row, ensure_ascii=False) + "\n")
                            count += 1
                if count == 0:
                    tmp.unlink()
                    continue
                os.replace(tmp, path)
            files[key] = str(path)
        if "train_file" not in files:
            raise UserError(f"Dataset {plan['dataset']!r} v{plan['dataset_version']} has no rows in its train split")
        return files

    def resolve_base(self, plan: dict[str, Any]) -> dict[str, str]:
        """Config keys naming the base: its Hugging Face directory, and for a GGUF base the file
        the child converts from on first use (cached in models/, never on the GUI thread)."""
        from studio.hf_cache import hf_dir_for

        base = self.studio.registry.get(plan["base_model_id"])
        out = {"base_model_path": str(hf_dir_for(self.home, base))}
        if base.format == "gguf":
            out["base_gguf"] = base.path
        return out

    def launch(self, plan: dict[str, Any], *, parent_job_id: int | None = None) -> int:
        m = get_method(plan["method"])
        config = dict(plan["config"])
        config.update(self.write_data(plan))
        config.update(self.resolve_base(plan))
        if m.prepare is not None:
            config.update(m.prepare(self.studio, plan) or {})
        return self.studio.jobs.submit(
            m.name,
            config,
            name=plan["name"],
            base_model_id=plan["base_model_id"],
            dataset_version_id=plan["dataset_version_id"],
            parent_job_id=parent_job_id,
        )

    # -- clone / export --
    def clone_plan(self, job_id: int) -> dict[str, Any]:
        """What the wizard needs to re-open a finished job's settings (Clone as new run)."""
        job = self.studio.jobs.get(job_id)
        if job.kind not in METHODS:
            raise UserError(f"Job {job_id} is a {job.kind} job, not a training job")
        base = self.studio.registry.get(job.base_model_id) if job.base_model_id else None
        version = None
        if job.dataset_version_id:
            with self.db.session() as s:
                v = s.get(DatasetVersion, job.dataset_version_id)
                version = {"dataset": v.dataset.name, "version": v.version} if v else None
        paths = MANAGED_FIELDS - {"chat_template"}
        return {
            "method": job.kind,
            "base": base.name if base else None,
            "dataset": version["dataset"] if version else None,
            "version": version["version"] if version else None,
            "template": job.config.get("chat_template"),
            "overrides": {k: v for k, v in job.config.items() if k not in paths},
            "parent_job_id": job_id,
        }

    def export_config(self, job_id: int, fmt: str = "studio") -> str:
        """The job's config as YAML: `studio` runs engines.training.sft (python or accelerate
        launch), `trl` runs trl's own CLI (`trl sft --config FILE`)."""
        import yaml

        job = self.studio.jobs.get(job_id)
        cfg = dict(job.config)
        job_dir = self.home.job_dir(job_id)
        if fmt == "studio":
            cfg.setdefault("output_dir", str(job_dir / "output" / "adapter"))
            cfg.setdefault("checkpoint_dir", str(job_dir / "checkpoints"))
            body = yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True, width=1000)
            head = f"# Model Studio job {job_id} ({job.kind}).\n# accelerate launch --multi_gpu --num_processes N -m engines.training.{job.kind} THIS.yaml\n"
            return head + body
        if fmt != "trl":
            raise UserError(f"Unknown config format {fmt!r}", hint="studio or trl")
        if job.kind != "sft":
            raise UserError("The trl CLI export covers SFT jobs", hint="use --format studio for this job")
        template_path = job_dir / "chat_template.training.jinja"
        job_dir.mkdir(parents=True, exist_ok=True)
        from studio.home import atomic_write_text

        atomic_write_text(template_path, cfg.get("chat_template_text") or "")
        trl_cfg: dict[str, Any] = {
            "model_name_or_path": cfg["base_model_path"],
            "datasets": [{"path": "json", "data_files": cfg["train_file"], "split": "train"}],
            "chat_template_path": str(template_path),
            "output_dir": str(job_dir / "output" / "trl-adapter"),
            "use_peft": True,
            "lora_r": cfg.get("lora_r", 16),
            "lora_alpha": cfg.get("lora_alpha", 32),
            "lora_dropout": cfg.get("lora_dropout", 0.05),
            "lora_target_modules": cfg.get("target_modules", "all-linear"),
            "learning_rate": cfg.get("learning_rate", 2e-4),
            "lr_scheduler_type": cfg.get("lr_scheduler", "cosine"),
            "warmup_steps": cfg.get("warmup_steps", 0),
            "num_train_epochs": cfg.get("epochs", 1.0),
            "max_steps": cfg.get("max_steps", -1),
            "per_device_train_batch_size": cfg.get("batch_size", 4),
            "gradient_accumulation_steps": cfg.get("gradient_accumulation_steps", 1),
            "max_length": cfg.get("max_length", 512),
            "packing": cfg.get("packing", False),
            "assistant_only_loss": cfg.get("assistant_only_loss", True),
            "seed": cfg.get("seed", 42),
            "save_steps": cfg.get("save_steps", 50),
            "logging_steps": cfg.get("logging_steps", 1),
            "gradient_checkpointing": cfg.get("gradient_checkpointing", False),
            "bf16": cfg.get("precision") in ("bf16", "auto"),
            "report_to": "none",
        }
        head = f"# Model Studio job {job_id}, for trl's CLI.\n# trl sft --config THIS.yaml   (multi-GPU: accelerate launch --multi_gpu --num_processes N -m trl.scripts.sft --config THIS.yaml)\n"
        return head + yaml.safe_dump(trl_cfg, sort_keys=False, width=1000)


def check_trainable(base: Model) -> None:
    if base.kind != "base":
        raise UserError(
            f"{base.name} is an {base.kind}, not a base model",
            hint="pick its base model; to continue training an adapter, choose the base and the adapter's dataset",
        )
    if base.format not in ("gguf", "hf"):
        raise UserError(f"{base.name} ({base.format}) cannot be trained", hint="import a GGUF file or a Hugging Face model directory")


def _kind_hint(kind: str) -> str:
    return {
        "preference": "preference pairs train a reward model or DPO: pick that method, or an sft dataset",
        "prompt": "prompt-only rows train with GRPO: pick that method, or an sft dataset",
        "sft": "sft conversations train with SFT: pick that method, or a preference dataset",
    }.get(kind, "pick a dataset of a matching kind")


# ---- after the job: register the adapter ---------------------------------------------------------
def job_result_from_events(db: Database, job_id: int) -> dict[str, Any]:
    with db.session() as s:
        ev = s.scalar(
            select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.type == "done").order_by(JobEvent.seq.desc()).limit(1)
        )
        return dict((ev.data or {}).get("result") or {}) if ev is not None else {}


def finish_training_job(db: Database, home: Home, job: Job) -> dict[str, Any]:
    """Register the job's adapter in the model registry with its lineage (all four methods).

    The adapter folder moves from the job's output to models/adapters/, so deleting a job's
    files never breaks a registered model. Returns {"adapter_dir", "model_id", "model_name"}."""
    result = {**(job.result or {}), **job_result_from_events(db, job.id)}
    adapter_dir = result.get("adapter_dir")
    if not adapter_dir or not Path(adapter_dir).is_dir():
        raise StudioError(
            f"Job {job.id} finished without an adapter folder ({adapter_dir or 'no adapter_dir in its result'})",
            hint="see the job's log; run it again",
        )
    with db.session() as s:
        existing = s.scalar(select(Model).where(Model.job_id == job.id, Model.kind == "adapter"))
        if existing is not None:  # the finisher ran already (a retry): nothing to do
            return {"adapter_dir": existing.path, "model_id": existing.id, "model_name": existing.name}
        base = s.get(Model, job.base_model_id) if job.base_model_id else None
        base_name = base.name.replace(" (base)", "") if base else "model"
        method = result.get("method") or job.kind
        name = f"{base_name} · {method} · job {job.id}"
        target = home.models / "adapters" / f"job-{job.id}-{method}"
        target.parent.mkdir(parents=True, exist_ok=True)
        src = Path(adapter_dir)
        if src.resolve() != target.resolve():
            if target.exists():
                shutil.rmtree(target)
            try:
                os.replace(src, target)
            except OSError:  # another file system: copy to a temp name, then rename
                tmp = target.with_name(f".{target.name}.tmp")
                shutil.rmtree(tmp, ignore_errors=True)
                shutil.copytree(src, tmp)
                os.replace(tmp, target)
        template = result.get("chat_template")
        if not template and (target / "chat_template.jinja").exists():
            template = (target / "chat_template.jinja").read_text(encoding="utf-8")
        size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        thinks = _learned_to_think(s, job.config)
        metrics = {k: v for k, v in result.items() if k not in ("chat_template", "adapter_dir")}
        m = Model(
            name=name,
            kind="adapter",
            format="peft",
            path=str(target),
            architecture=base.architecture if base else None,
            parameters=result.get("trainable_parameters"),
            context_length=base.context_length if base else None,
            file_size=size,
            chat_template=template,
            is_instruct=True,
            parent_id=base.id if base else None,
            job_id=job.id,
            dataset_version_id=job.dataset_version_id,
            meta={
                "managed": True,
                "method": method,
                "chat_template_name": result.get("chat_template_name") or job.config.get("chat_template"),
                "config": {k: v for k, v in job.config.items() if k != "chat_template_text"},
                "metrics": metrics,
                **({"thinking": True} if thinks else {}),
            },
        )
        s.add(m)
        s.flush()
        return {"adapter_dir": str(target), "model_id": m.id, "model_name": name}


def _learned_to_think(s, config: dict[str, Any], sample: int = 2000) -> bool:
    """Whether an adapter was trained to think in `<think>` tags, as hybrid thinking models do:
    its SFT rows' answers open a think block, or it continues an adapter that was. The chat then
    switches its modes by the prompt (an empty block for fast) instead of a scaffold instruction."""
    parent = s.scalar(select(Model).where(Model.path == str(config["adapter_path"]))) if config.get("adapter_path") else None
    if parent is not None and (parent.meta or {}).get("thinking"):
        return True
    path = config.get("train_file")
    if not path or not Path(path).is_file():
        return False
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            if n >= sample:
                break
            if '"<think>' in line and '"assistant"' in line:
                return True
    return False


register_method(
    "sft",
    "Supervised fine-tuning (LoRA)",
    ("sft",),
    _sft_config_cls(),
    description="Teach the format, the interaction norms and the domain voice from example conversations.",
)

import studio.preference  # noqa: F401,E402  (registers reward / dpo / grpo)

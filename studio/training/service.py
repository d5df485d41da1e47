"""The training service: a base model + a dataset version + a method + a preset -> a job.

    svc = TrainingService(studio)
    plan = svc.plan("sft", base="gemma-3-270m (base)", dataset="greetings", preset="quick",
                    overrides={"max_steps": 40})
    job_id = svc.launch(plan)              # the child runs engines.training.sft:run_job
    ...                                    # on success the runner calls finish_training_job

The methods it plans for come from the registry (studio.training.methods); what happens after
a job succeeds is studio.training.finish.
"""

from __future__ import annotations

import json
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

from sqlalchemy import select

from studio.db import Database, Dataset, DatasetVersion, Model
from studio.errors import UserError
from studio.home import Home
from studio.training.methods import MANAGED_FIELDS, METHODS, Method, get_method


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
        from studio.datasets.rows import resolve_version

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
        from studio.datasets.rows import iter_rows

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
        from studio.models.hf_cache import hf_dir_for

        conv = hf_dir_for(self.home, base)
        return conv if (conv / "config.json").exists() else None

    # -- launch --
    def write_data(self, plan: dict[str, Any]) -> dict[str, str]:
        """Write the version's rows as JSONL (train, and eval if the version has an eval split).
        Content-addressed by the version hash, so clones and re-runs share the files."""
        from studio.datasets.rows import iter_rows

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
        from studio.models.hf_cache import hf_dir_for

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
        if cfg.get("adapter_path"):
            raise UserError(f"Job {job_id} continues an adapter, which trl's CLI cannot start from",
                            hint="use --format studio: engines.training.sft runs it under accelerate launch too")
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

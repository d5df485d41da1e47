"""After a training job succeeds: register its adapter in the model registry, with its lineage.

    FINISHERS["sft"] = "studio.training.finish:finish_training_job"   # studio.jobs.finishers
    finish_training_job(db, home, job)   # {"adapter_dir", "model_id", "model_name"}; runs in the runner

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

import os
import shutil
from pathlib import Path
from typing import Any

from sqlalchemy import select

from studio.db import Database, Job, Model
from studio.errors import StudioError
from studio.home import Home
from studio.jobs.manager import done_result


def finish_training_job(db: Database, home: Home, job: Job) -> dict[str, Any]:
    """Register the job's adapter in the model registry with its lineage (all four methods).

    The adapter folder moves from the job's output to models/adapters/, so deleting a job's
    files never breaks a registered model. Returns {"adapter_dir", "model_id", "model_name"}."""
    result = {**(job.result or {}), **done_result(db, job.id)}
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

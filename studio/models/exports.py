"""Export service: turn a registered LoRA adapter into GGUF files that llama.cpp and Ollama run.

    job_id = submit_export(studio, "my-adapter", merge=True, out_type="q8_0")
    studio.jobs.wait(job_id)      # the runner calls finish_export_job on success

The CLI (`studio export gguf`) and the Models page both call `submit_export`; the work runs in
a job child (engines.conversion.export:run_job), which writes into the job's output folder.
`finish_export_job` moves the finished files into `exports/` (a rename: the folder never holds
half a file) and registers them as `kind="export"` entries whose parent is the adapter, so the
lineage reads export -> adapter -> base, with the adapter's job and dataset version.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from studio.db import Database, Job, Model
from studio.errors import StudioError, UserError
from studio.home import Home
from studio.jobs.manager import done_result

TYPE_LABELS = {"lora": "GGUF LoRA", "f16": "merged f16", "q8_0": "merged q8_0"}


def _slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.").lower()
    return s or "export"


def _unique_stem(home: Home, stem: str) -> str:
    candidate, n = stem, 2
    while any((home.exports / f"{candidate}{ext}").exists() for ext in (".gguf", ".Modelfile")):
        candidate, n = f"{stem}-{n}", n + 1
    return candidate


def plan_export(studio, adapter_ref: str | int, *, merge: bool = False, out_type: str | None = None,
                base_ref: str | int | None = None) -> dict[str, Any]:
    """Check the adapter and its base, and return the export job's config (plain data).

    The base is the adapter's parent in the registry; `base_ref` names one for an adapter that
    has none (a PEFT folder imported by path). The job checks every shape against it.
    """
    adapter = studio.registry.get(adapter_ref)
    if adapter.kind != "adapter" or adapter.format != "peft":
        raise UserError(
            f"{adapter.name!r} is a {adapter.kind} ({adapter.format}); only PEFT LoRA adapters can be exported",
            hint="pick an adapter made by a training job or imported from a PEFT folder",
        )
    if (adapter.meta or {}).get("method") == "reward":
        raise UserError(
            f"{adapter.name!r} is a reward model: it scores answers and does not write them, so it has no GGUF chat export",
            hint="use it from the Rate and Compare views or as a GRPO reward; export the SFT, DPO or GRPO adapter instead",
        )
    adapter_dir = Path(adapter.path)
    if not (adapter_dir / "adapter_config.json").exists():
        raise UserError(
            f"{adapter_dir / 'adapter_config.json'}: missing; the adapter folder of {adapter.name!r} is incomplete",
            hint="the folder was moved or deleted; re-import the adapter from its PEFT folder",
        )
    base = studio.registry.get(base_ref) if base_ref is not None else adapter.parent
    if base is None:
        raise UserError(
            f"{adapter.name!r} has no base model in the registry",
            hint="name the GGUF base it was trained on (--base NAME in the CLI)",
        )
    if base.format != "gguf":
        raise UserError(
            f"The base of {adapter.name!r} ({base.name!r}) is a {base.format} model; GGUF export needs a GGUF base",
            hint="import the base model as a .gguf file and train or import the adapter on it",
        )
    if not Path(base.path).exists():
        raise UserError(f"{base.path}: the base GGUF of {adapter.name!r} is missing", hint="re-import the base model")
    out_type = out_type or ("f16" if merge else "lora")
    if merge and out_type == "lora":
        raise UserError("--merge writes a whole model: choose --type f16 or q8_0")
    if out_type not in TYPE_LABELS:
        raise UserError(f"unknown export type {out_type!r}", hint="choose f16 or q8_0 (with --merge)")
    meta = adapter.meta or {}
    suffix = "lora" if out_type == "lora" else f"merged-{out_type}"
    return {
        "adapter_id": adapter.id,
        "base_id": base.id,
        "adapter_dir": str(adapter_dir),
        "base_gguf": str(Path(base.path).absolute()),
        "stem": _unique_stem(studio.home, f"{_slug(adapter.name)}-{suffix}"),
        "type": out_type,
        "chat_template": adapter.chat_template,
        "template_name": meta.get("template_name"),
        "name": f"{adapter.name} ({TYPE_LABELS[out_type]})",
    }


def submit_export(studio, adapter_ref: str | int, *, merge: bool = False, out_type: str | None = None,
                  base_ref: str | int | None = None) -> int:
    """Queue an export job for an adapter; returns the job id."""
    config = plan_export(studio, adapter_ref, merge=merge, out_type=out_type, base_ref=base_ref)
    adapter = studio.registry.get(config["adapter_id"])
    return studio.jobs.submit(
        "export",
        config,
        name=f"export {adapter.name} ({TYPE_LABELS[config['type']]})",
        heavy=False,  # CPU and disk only: it may run beside a training job
        base_model_id=config["base_id"],
        dataset_version_id=adapter.dataset_version_id,
        parent_job_id=adapter.job_id,
    )


def finish_export_job(db: Database, home: Home, job: Job) -> dict[str, Any]:
    """Move the job's files into exports/ and register the export (run by the job runner)."""
    from engines.conversion.gguf_meta import GGUFError, read_gguf_info
    from studio.models.registry import Registry

    result = job.result or done_result(db, job.id)  # the runner stores the result after finishers
    src = Path(result.get("path", ""))
    src_mf = Path(result.get("modelfile", ""))
    if not src.is_file() or not src_mf.is_file():
        raise StudioError(f"export job {job.id} did not leave its files in {job.output_dir}")
    cfg = job.config
    reg = Registry(db, home)
    adapter = reg.get(cfg["adapter_id"])
    stem = _unique_stem(home, cfg["stem"])
    dst, dst_mf = home.exports / f"{stem}.gguf", home.exports / f"{stem}.Modelfile"
    if stem != cfg["stem"]:  # the Modelfile names its GGUF by file name
        text = src_mf.read_text(encoding="utf-8").replace(f"./{src.name}", f"./{dst.name}")
        src_mf.write_text(text, encoding="utf-8")
    os.replace(src, dst)
    os.replace(src_mf, dst_mf)
    try:
        info = read_gguf_info(dst)
    except GGUFError as e:
        dst.unlink(missing_ok=True)
        dst_mf.unlink(missing_ok=True)
        raise StudioError(f"the exported file is not a readable GGUF: {e}") from e

    name = cfg["name"]
    if any(m.name == name for m in reg.list("export")):
        name = f"{name} #{job.id}"
    out_type = cfg["type"]
    m = Model(
        name=name,
        kind="export",
        format="gguf-lora" if out_type == "lora" else "gguf",
        path=str(dst),
        architecture=info.architecture,
        parameters=info.parameters,
        quantization=("F32 LoRA" if out_type == "lora" else out_type.upper()),
        context_length=info.context_length or _base_context(reg, cfg.get("base_id")),
        file_size=info.file_size,
        chat_template=adapter.chat_template,
        is_instruct=adapter.chat_template is not None,
        parent_id=adapter.id,
        job_id=job.id,
        dataset_version_id=adapter.dataset_version_id,
        meta={
            "managed": True,
            "base_gguf": cfg["base_gguf"],
            "modelfile": str(dst_mf),
            "type": out_type,
            "template_name": cfg.get("template_name"),
            **({"thinking": True} if (adapter.meta or {}).get("thinking") else {}),
            "adapter": adapter.name,
            "base": _name_or_none(reg, cfg.get("base_id")),
            "training_job_id": adapter.job_id,
            "extra_files": [str(dst_mf)],
        },
    )
    reg.add(m)
    return {"model": name, "path": str(dst), "modelfile": str(dst_mf)}


def _name_or_none(reg, model_id: int | None) -> str | None:
    try:
        return reg.get(model_id).name if model_id is not None else None
    except StudioError:
        return None


def _base_context(reg, model_id: int | None) -> int | None:
    try:
        return reg.get(model_id).context_length if model_id is not None else None
    except StudioError:
        return None


def lineage(studio, model_ref: str | int) -> list[dict[str, Any]]:
    """The chain from a model up to its base: each step with its job, dataset version and config."""
    from studio.db import DatasetVersion

    chain: list[dict[str, Any]] = []
    m: Model | None = studio.registry.get(model_ref)
    seen: set[int] = set()
    while m is not None and m.id not in seen:
        seen.add(m.id)
        step: dict[str, Any] = {"id": m.id, "name": m.name, "kind": m.kind, "format": m.format}
        with studio.db.session() as s:
            if m.job_id is not None and (job := s.get(Job, m.job_id)) is not None:
                step["job"] = {"id": job.id, "kind": job.kind, "name": job.name, "state": job.state, "config": job.config}
            if m.dataset_version_id is not None and (dv := s.get(DatasetVersion, m.dataset_version_id)) is not None:
                step["dataset_version"] = {"id": dv.id, "dataset": dv.dataset.name, "version": dv.version,
                                           "rows": dv.row_count, "hash": dv.content_hash[:12]}
        chain.append(step)
        m = studio.registry.get(m.parent_id) if m.parent_id is not None else None
    return chain


def describe_lineage(chain: list[dict[str, Any]]) -> str:
    """One line per step, for the Models page and `studio models show`."""
    lines = []
    for step in chain:
        line = f"{step['name']} [{step['kind']}, {step['format']}]"
        if "job" in step:
            j = step["job"]
            line += f" ← job {j['id']} ({j['kind']}, {j['state']})"
        if "dataset_version" in step:
            d = step["dataset_version"]
            line += f" on {d['dataset']} v{d['version']} ({d['rows']} rows)"
        lines.append(line)
    return "\n".join(lines)


def job_config_text(step: dict[str, Any]) -> str:
    return json.dumps(step.get("job", {}).get("config", {}), indent=2, default=str)

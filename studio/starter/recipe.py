"""Recipes: a YAML sequence of stages run through the job runner (SFT -> DPO -> GRPO -> export -> register).

    out = run_recipe(studio, "starter", until="sft", on_event=print)   # blocks; run it on a worker thread
    out["stages"]["sft"]        # {"job_id": 12, "model": "gemma-3-270m · sft · job 12", "state": "succeeded"}
    out["model"]                # the registered GGUF LoRA once the last stage ran

Every stage is an ordinary job (the Jobs page shows it, `studio jobs show` prints it), chained by
parent job, and each training stage starts from the previous stage's adapter. The run's state
is kept in the settings table under `recipe.<name>`; every stage's entry records its
`stage_key`: a hash of the base, the template and, for that stage and every stage before it,
the name, kind, method, config (overrides included), preset and the bytes of the dataset file
(the register stage adds what its lineage records: the curriculum's hash, `output_name`,
`description` and the recipe's text). Running the recipe again picks up where it stopped: an
interrupted job is resumed from its checkpoint, and a finished stage is kept and skipped while
its key is unchanged. A change redoes the first stage it touches and every stage after it, never one
before: a new GRPO learning rate or a new dpo.jsonl keeps the SFT stage. A stage that runs a new
job drops the entries of the stages after it. `run_key` hashes the whole recipe and the whole
curriculum: it names the run in the lineage. The registered model's meta names the recipe, the
curriculum's content hash and every stage's job config: its lineage.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from studio.errors import StudioError, UserError

STARTER_DIR = Path(__file__).parent / "data"
STAGE_KINDS = ("train", "export", "register")
Event = Callable[[dict], None]


def recipe_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.is_file():
        return p
    packaged = STARTER_DIR / f"{name_or_path}.yaml"
    if packaged.is_file():
        return packaged
    raise UserError(f"No recipe named {name_or_path!r}", hint="use `starter`, or the path of a recipe YAML file")


def load_recipe(name_or_path: str, overrides: list[str] | None = None) -> dict[str, Any]:
    """The recipe as data, with `STAGE.FIELD=VALUE` overrides applied and checked."""
    import yaml

    path = recipe_path(name_or_path)
    try:
        recipe = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(recipe, dict) or not isinstance(recipe.get("stages"), list) or not recipe["stages"]:
        raise UserError(f"{path}: a recipe needs a `stages` list", hint="see studio/starter/data/starter.yaml")
    recipe["path"] = str(path)
    recipe["text"] = path.read_text(encoding="utf-8")
    names = []
    for i, st in enumerate(recipe["stages"], 1):
        if not isinstance(st, dict) or not st.get("name"):
            raise UserError(f"{path}: stage {i} has no name")
        st.setdefault("kind", "train" if st.get("method") else st["name"])
        if st["kind"] not in STAGE_KINDS:
            raise UserError(f"{path}: stage {st['name']!r} has kind {st['kind']!r}", hint="one of " + ", ".join(STAGE_KINDS))
        if st["kind"] == "train" and not st.get("dataset"):
            raise UserError(f"{path}: training stage {st['name']!r} names no dataset")
        st.setdefault("config", {})
        names.append(st["name"])
    for pair in overrides or []:
        key, eq, raw = pair.partition("=")
        stage, dot, fld = key.strip().partition(".")
        if not eq or not dot or stage not in names:
            raise UserError(f"--set {pair!r}: expected STAGE.FIELD=VALUE", hint="stages: " + ", ".join(names))
        st = next(s for s in recipe["stages"] if s["name"] == stage)
        st["config"][fld] = yaml.safe_load(raw)
    return recipe


def curriculum_folder(recipe: dict) -> Path:
    from studio.starter.curriculum import data_dir

    raw = recipe.get("curriculum_dir")
    if not raw:
        return data_dir()
    folder = Path(raw).expanduser()
    if not folder.is_absolute() and recipe.get("path"):  # relative to the recipe file, not to the cwd
        folder = Path(recipe["path"]).parent / folder
    return folder


def run_key(recipe: dict) -> str:
    from studio.starter.curriculum import curriculum_hash

    body = json.dumps({"stages": recipe["stages"], "base": recipe.get("base"), "template": recipe.get("template"),
                       "curriculum": curriculum_hash(curriculum_folder(recipe))}, sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def _file_sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None  # missing: found when it runs


def stage_keys(recipe: dict) -> list[str]:
    """`stage_key` of every stage, in order (each dataset file is read once)."""
    return _stage_keys(recipe, len(recipe["stages"]) - 1)


def stage_key(recipe: dict, index: int) -> str:
    """What stage `index` depends on, hashed: base, template and every stage up to and including it.

    Per stage: name, kind, method, config, preset and the sha256 of its dataset file; the
    register stage adds what its lineage records (the curriculum's hash, output name,
    description and the recipe's text). Stages after `index` do not enter, so a change redoes
    its stage and the later ones, never an earlier one."""
    if not 0 <= index < len(recipe["stages"]):
        raise IndexError(f"recipe {recipe.get('name')!r} has no stage {index}")
    return _stage_keys(recipe, index)[index]


def _stage_keys(recipe: dict, upto: int) -> list[str]:
    folder = curriculum_folder(recipe)
    h = hashlib.sha256(json.dumps({"base": recipe.get("base"), "template": recipe.get("template")},
                                  sort_keys=True).encode())
    keys = []
    for st in recipe["stages"][:upto + 1]:
        part = {k: st.get(k) for k in ("name", "kind", "method", "config", "preset")}
        if st.get("kind") == "train" and st.get("dataset"):
            part["dataset_sha256"] = _file_sha256(folder / st["dataset"])
        if st.get("kind") == "register":
            part["lineage"] = {"curriculum": _curriculum_hash(recipe), "output_name": recipe.get("output_name"),
                               "description": recipe.get("description"), "recipe_yaml": recipe.get("text")}
        h.update(json.dumps(part, sort_keys=True).encode() + b"\n")  # a running hash: the prefix so far
        keys.append(h.copy().hexdigest()[:16])
    return keys


# ---- state -------------------------------------------------------------------------------------------
def _state_key(recipe: dict) -> str:
    return f"recipe.{recipe['name']}"


def load_state(studio, recipe: dict) -> dict[str, Any]:
    """The recipe's saved run, holding only the stage entries still valid (see `stage_key`)."""
    return _load_state(studio, recipe)[0]


def _load_state(studio, recipe: dict) -> tuple[dict[str, Any], list[str], list[str]]:
    """(state, `stage_keys`, names of the stages whose entries were dropped because something changed)."""
    from studio.db import Setting

    with studio.db.session() as s:
        row = s.get(Setting, _state_key(recipe))
        saved = dict(row.value) if row and row.value else {}
    key = run_key(recipe)  # hashes the curriculum files: once per call
    keys = stage_keys(recipe)
    old = saved.get("stages") if isinstance(saved.get("stages"), dict) else {}
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    valid = True  # the entries kept form a prefix: from the first changed (or missing) stage on, all go
    for st, k in zip(recipe["stages"], keys):
        info = old.get(st["name"])
        if not isinstance(info, dict):
            valid = False
            continue
        # saved before stages had keys: valid only if the whole recipe is unchanged (the old rule)
        recorded = info.get("key", k if saved.get("key") == key else None)
        if valid and recorded == k:
            kept[st["name"]] = {**info, "key": k}
        else:
            valid = False
            dropped.append(st["name"])
    state = {**saved, "key": key, "recipe": recipe["name"], "stages": kept}
    if not kept or "started_at" not in state:
        state["started_at"] = time.time()
    return state, keys, dropped


def save_state(studio, recipe: dict, state: dict) -> None:
    from studio.db import Setting

    with studio.db.session() as s:
        s.merge(Setting(key=_state_key(recipe), value=json.loads(json.dumps(state))))


def recipe_status(studio, name_or_path: str, overrides: list[str] | None = None) -> dict[str, Any]:
    """Each stage's saved entry (or `pending`) with its current `key`; `kept`: the next run keeps the
    stage's job (skipped when finished, resumed when interrupted); `changed`: the saved entry was
    dropped because something the stage depends on changed since (see `stage_key`)."""
    recipe = load_recipe(name_or_path, overrides)
    state, keys, dropped = _load_state(studio, recipe)
    stages = []
    for st, k in zip(recipe["stages"], keys):
        info = state["stages"].get(st["name"])
        stages.append({"name": st["name"], **(info or {"state": "pending"}), "key": k,
                       "kept": info is not None and info.get("state") not in ("failed", "cancelled"),
                       "changed": st["name"] in dropped})
    return {"recipe": recipe["name"], "key": state["key"], "stages": stages}


# ---- running -------------------------------------------------------------------------------------------
def run_recipe(
    studio,
    name_or_path: str = "starter",
    *,
    until: str | None = None,
    overrides: list[str] | None = None,
    on_event: Event | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Run (or continue) a recipe up to and including `until`; blocks until that stage is done.

    The calling process must run the job queue (the window does; the CLI becomes the runner)."""
    recipe = load_recipe(name_or_path, overrides)
    names = [st["name"] for st in recipe["stages"]]
    if until is not None and until not in names:
        raise UserError(f"--until {until!r}: no such stage", hint="stages: " + ", ".join(names))
    emit = on_event or (lambda _e: None)
    stop = should_stop or (lambda: False)
    state, keys, _dropped = _load_state(studio, recipe)
    save_state(studio, recipe, state)
    studio.jobs.try_become_runner()
    prev: dict[str, Any] = {}
    for i, st in enumerate(recipe["stages"]):
        name = st["name"]
        done = state["stages"].get(name) or {}
        if done.get("state") == "succeeded" and _still_there(studio, done):
            emit({**done, "type": "stage", "stage": name, "state": "skipped", "detail": "done in an earlier run"})
        else:
            if stop():
                break
            emit({"type": "stage", "stage": name, "state": "running"})
            earlier_job = done.get("job_id")
            done = {**_run_stage(studio, recipe, st, state, prev, emit, stop, keys[i]), "key": keys[i]}
            state["stages"][name] = done
            if earlier_job is None or done.get("job_id") != earlier_job:  # not the same job picked up again
                _drop_after(recipe, state, name)
            save_state(studio, recipe, state)
            emit({"type": "stage", "stage": name, **done})
            if done["state"] != "succeeded":
                raise StudioError(f"Recipe {recipe['name']!r} stopped at stage {name!r}: job {done.get('job_id')} "
                                  f"{done['state']}" + (f" ({done['error']})" if done.get("error") else ""),
                                  hint="see the job in the Jobs page; run the recipe again to resume")
        prev = done
        if name == until:
            break
    return {"recipe": recipe["name"], "key": state["key"], "stages": state["stages"],
            "model": state["stages"].get("register", {}).get("model"),
            "curriculum_hash": _curriculum_hash(recipe)}


def _drop_after(recipe: dict, state: dict, name: str) -> None:
    """Forget the stages after `name`: they were built on what `name` is redoing."""
    names = [st["name"] for st in recipe["stages"]]
    for later in names[names.index(name) + 1:]:
        state["stages"].pop(later, None)


def _curriculum_hash(recipe: dict) -> str:
    from studio.starter.curriculum import curriculum_hash

    return curriculum_hash(curriculum_folder(recipe))


def _still_there(studio, done: dict) -> bool:
    from studio.errors import NotFound

    if not done.get("model"):
        return True
    try:
        studio.registry.get(done["model"])
        return True
    except NotFound:
        return False


def _wait(studio, job_id: int, emit: Event, stage: str, stop) -> Any:
    last = -1
    while True:
        job = studio.jobs.wait(job_id, timeout=5.0)
        if job.state in ("succeeded", "failed", "cancelled", "interrupted"):
            return job
        if stop():  # the caller goes away (the window closes): the job itself is left to the runner
            raise UserError(f"The recipe stopped waiting for job {job_id} ({stage})",
                            hint="run the recipe again to pick up where it is")
        evs = studio.jobs.events(job_id, after_seq=max(last, 0), types=("progress",))
        if evs:
            last = evs[-1].get("seq", last)
            ev = evs[-1]
            emit({"type": "progress", "stage": stage, "job_id": job_id, "step": ev.get("step"), "total": ev.get("total")})


def _job_stage(studio, job_id: int, emit: Event, stage: str, stop, model_key: str) -> dict[str, Any]:
    job = studio.jobs.get(job_id)
    if job.state == "interrupted":
        emit({"type": "stage", "stage": stage, "state": "resuming", "job_id": job_id})
        studio.jobs.resume(job_id)
    job = _wait(studio, job_id, emit, stage, stop)
    result = job.result or {}
    out = {"job_id": job_id, "state": job.state, "kind": job.kind}
    if job.state == "succeeded":
        out["model"] = result.get(model_key)
    else:
        out["error"] = job.error
    return out


def _run_stage(studio, recipe, st, state, prev, emit, stop, key: str) -> dict[str, Any]:
    name = st["name"]
    earlier = state["stages"].get(name) or {}
    job_id = earlier.get("job_id")
    if job_id is not None:  # a job of this run exists: resume or wait for it
        try:
            job = studio.jobs.get(job_id)
        except Exception:  # noqa: BLE001 - deleted: submit a new one
            job = None
        if job is not None and job.state in ("queued", "running", "interrupted", "succeeded"):
            return _job_stage(studio, job_id, emit, name, stop, "model" if st["kind"] == "export" else "model_name")
    if st["kind"] == "train":
        job_id = _submit_training(studio, recipe, st, prev)
        state["stages"][name] = {"job_id": job_id, "state": "queued", "key": key}
        _drop_after(recipe, state, name)
        save_state(studio, recipe, state)
        return _job_stage(studio, job_id, emit, name, stop, "model_name")
    if st["kind"] == "export":
        from studio.models.exports import submit_export

        if not prev.get("model"):
            raise UserError(f"Stage {name!r} exports the previous stage's adapter, but there is none")
        job_id = submit_export(studio, prev["model"])
        state["stages"][name] = {"job_id": job_id, "state": "queued", "key": key}
        _drop_after(recipe, state, name)
        save_state(studio, recipe, state)
        return _job_stage(studio, job_id, emit, name, stop, "model")
    return _register(studio, recipe, state, prev)


def _submit_training(studio, recipe: dict, st: dict, prev: dict) -> int:
    from studio.training import TrainingService

    ds_name, kind = _ensure_dataset(studio, recipe, st)
    svc = TrainingService(studio)
    adapter = prev.get("model") if prev.get("kind") in ("sft", "dpo", "grpo") else None
    plan = svc.plan(
        st["method"], base=recipe["base"], dataset=ds_name, preset=st.get("preset", "quick"),
        overrides=dict(st["config"]), template=recipe.get("template"),
        name=f"{recipe['name']} · {st['name']}", adapter=adapter,
    )
    return svc.launch(plan, parent_job_id=prev.get("job_id"))


def _ensure_dataset(studio, recipe: dict, st: dict) -> tuple[str, str]:
    """Import the stage's curriculum file once per content: the name carries the file's hash."""
    from studio.datasets.service import DatasetService

    path = curriculum_folder(recipe) / st["dataset"]
    if not path.is_file():
        raise UserError(f"{path}: the curriculum file of stage {st['name']!r} is missing",
                        hint="rebuild it with `python -m studio.starter.curriculum`")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    name = f"{recipe['name']}-{Path(st['dataset']).stem}-{digest}"
    svc = DatasetService(studio)
    if not any(d["name"] == name for d in svc.list()):
        kind = {"sft": "sft", "dpo": "preference", "reward": "preference", "grpo": "prompt"}[st["method"]]
        svc.import_file(path, name, kind)
    return name, st["method"]


def _register(studio, recipe: dict, state: dict, prev: dict) -> dict[str, Any]:
    """Name the exported GGUF LoRA as the recipe's output and record the recipe's lineage."""
    from studio.db import Model

    if not prev.get("model"):
        raise UserError("The register stage needs an exported model before it")
    reg = studio.registry
    m = reg.get(prev["model"])
    taken = {x.name for x in reg.list()}
    name = recipe.get("output_name") or m.name
    if name in taken and name != m.name:
        name = f"{name} (rebuilt by job {m.job_id})"
    jobs = []
    for st in recipe["stages"]:
        info = state["stages"].get(st["name"]) or {}
        if info.get("job_id") is not None:
            job = studio.jobs.get(info["job_id"])
            jobs.append({"stage": st["name"], "job_id": job.id, "kind": job.kind,
                         "config": {k: v for k, v in (job.config or {}).items() if k != "chat_template_text"}})
    lineage = {"recipe": recipe["name"], "recipe_yaml": recipe["text"], "curriculum_hash": _curriculum_hash(recipe),
               "run_key": state["key"], "stages": jobs}
    with studio.db.session() as s:
        row = s.get(Model, m.id)
        row.name = name
        row.meta = {**(row.meta or {}), "thinking": True, "recipe": lineage,
                    "description": recipe.get("description", "")}
    for info in state["stages"].values():  # the export's entry follows the rename: a kept export stays found
        if info.get("model") == prev["model"]:
            info["model"] = name
    return {"state": "succeeded", "model": name, "kind": "register", "model_id": m.id}


BUILD_HOME = "<build home>"


def _portable(value: Any, home: Path) -> Any:
    """The lineage with the build machine's home written as <build home>: the package data names
    where each file lay in the home that built it, not a path on the release machine."""
    if isinstance(value, dict):
        return {k: _portable(v, home) for k, v in value.items()}
    if isinstance(value, list):
        return [_portable(v, home) for v in value]
    if isinstance(value, str):
        for root in dict.fromkeys((str(home), str(Path(home).resolve()))):
            if value == root or value.startswith(root + "/"):
                return BUILD_HOME + value[len(root):]
    return value


def ship(studio, model_name: str, folder: str | Path = STARTER_DIR) -> dict[str, Any]:
    """Copy a recipe's registered GGUF LoRA and its lineage into the package data (for releases)."""
    import shutil

    from studio.home import atomic_write_text

    m = studio.registry.get(model_name)
    meta = m.meta or {}
    if "recipe" not in meta:
        raise UserError(f"{model_name!r} was not made by a recipe", hint="run `studio recipe run starter` first")
    folder = Path(folder)
    tmp = folder / ".starter.gguf.tmp"
    shutil.copyfile(m.path, tmp)
    tmp.replace(folder / "starter.gguf")
    manifest = {"name": meta["recipe"].get("output_name") or "gemma-3-270m starter assistant",
                "file": "starter.gguf", "sha256": hashlib.sha256((folder / "starter.gguf").read_bytes()).hexdigest(),
                "chat_template": m.chat_template, "template_name": meta.get("template_name"),
                "recipe": _portable(meta["recipe"], studio.home.root), "built_from": m.name}
    atomic_write_text(folder / "starter.json", json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return {"path": str(folder / "starter.gguf"), "sha256": manifest["sha256"]}

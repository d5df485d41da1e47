"""Core subcommands: info, models, jobs, gui (and the `eval` group other areas fill)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from studio.cli import action, command_group
from studio.errors import UserError


def register(sub, groups) -> None:
    common = groups["common"]

    action(sub, common, "info", cmd_info, help="the data home, database, device, llama.cpp and models")

    ssub = command_group(sub, common, "settings", "machine-wide settings", metavar="SETTING")
    p = action(ssub, common, "extra-bufts", cmd_settings_extra_bufts,
               help="whether llama.cpp uses its extra buffer types (weight repacking, AMX): on, off or auto")
    p.add_argument("value", nargs="?", choices=["on", "off", "auto"], help="leave out to show the current choice")

    msub = command_group(sub, common, "models", "the model registry")
    p = action(msub, common, "list", cmd_models_list, help="list base models, adapters and exports")
    p.add_argument("--kind", choices=["base", "adapter", "export"])
    p = action(msub, common, "import", cmd_models_import, help="register a GGUF file or a Hugging Face model directory")
    p.add_argument("path")
    p.add_argument("--name")
    p = action(msub, common, "show", cmd_models_show, help="one model with its lineage")
    p.add_argument("name")
    p = action(msub, common, "delete", cmd_models_delete, help="delete an entry (and the files the studio made)")
    p.add_argument("name")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    groups["models"] = msub

    jsub = command_group(sub, common, "jobs", "training, export and eval jobs")
    action(jsub, common, "list", cmd_jobs_list)
    p = action(jsub, common, "show", cmd_jobs_show)
    p.add_argument("id", type=int)
    p.add_argument("--events", type=int, default=20, help="how many of the last events to include")
    p = action(jsub, common, "cancel", cmd_jobs_cancel)
    p.add_argument("id", type=int)
    p = action(jsub, common, "resume", cmd_jobs_resume, help="continue an interrupted job from its last checkpoint")
    p.add_argument("id", type=int)
    p.add_argument("--wait", action="store_true")
    p = action(jsub, common, "wait", cmd_jobs_wait, help="wait until a job ends (running the queue if nobody does)")
    p.add_argument("id", type=int)
    p.add_argument("--timeout", type=float)
    p = action(jsub, common, "submit", cmd_jobs_submit, help="queue a job of any kind from a JSON config")
    p.add_argument("kind")
    p.add_argument("--config", default="{}", help="the job's config as JSON")
    p.add_argument("--name", default="")
    p.add_argument("--wait", action="store_true")
    action(jsub, common, "work", cmd_jobs_work, help="run queued jobs until the queue is empty")
    groups["jobs"] = jsub

    p = action(sub, common, "gui", cmd_gui, help="open the window")
    p.add_argument("--smoke", action="store_true", help="open offscreen, wait for the first paint, print startup_s, exit")

    esub = command_group(sub, common, "eval", "evaluation suites (tools, router)", metavar="SUITE")
    groups["eval"] = esub


# ---- info and models ---------------------------------------------------------------------------
def cmd_info(args, ctx):
    from studio.hardware import detect_device
    from studio.models.registry import model_to_dict

    st = ctx.studio
    return {
        "home": str(st.home.root),
        "db": str(st.db.path),
        "schema_version": st.db.schema_version,
        "device": detect_device().to_dict(),
        "llama_cpp": _llama_info(st),
        "models": [model_to_dict(m) for m in st.registry.list()],
    }


def _llama_info(st) -> dict:
    """llama.cpp's version and CPU features, and this machine's extra-buffer-types choice."""
    import llama_cpp

    from engines.inference.llama_params import system_info
    from studio import llama_choice

    return {
        "version": llama_cpp.__version__,
        "system_info": system_info(),
        "extra_bufts": llama_choice.current(st.db).to_dict(),
    }


def cmd_settings_extra_bufts(args, ctx):
    from studio import llama_choice

    db = ctx.studio.db
    choice = llama_choice.set_forced(db, args.value) if args.value else llama_choice.current(db)
    return choice.to_dict()


def cmd_models_list(args, ctx):
    from studio.models.registry import model_to_dict

    return {"models": [model_to_dict(m) for m in ctx.studio.registry.list(args.kind)]}


def cmd_models_import(args, ctx):
    from studio.models.registry import model_to_dict

    return model_to_dict(ctx.studio.registry.import_path(args.path, args.name))


def cmd_models_show(args, ctx):
    from studio.models.registry import model_to_dict

    reg = ctx.studio.registry
    m = reg.get(args.name)
    d = model_to_dict(m)
    d["dependents"] = [x.name for x in reg.dependents(m.id)]
    return d


def cmd_models_delete(args, ctx):
    reg = ctx.studio.registry
    m = reg.get(args.name)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError(f"Deleting {m.name!r} needs confirmation", hint="pass --yes")
        answer = input(f"Delete {m.name!r} and its files? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            return {"deleted": False}
    removed = reg.delete(m.id)
    return {"deleted": True, "name": m.name, "removed_files": removed}


# ---- jobs -------------------------------------------------------------------------------------
def _job(ctx, job_id):
    from studio.jobs import job_to_dict

    return job_to_dict(ctx.studio.jobs.get(job_id))


def cmd_jobs_list(args, ctx):
    from studio.jobs import job_to_dict

    return {"jobs": [job_to_dict(j) for j in ctx.studio.jobs.list()]}


def cmd_jobs_show(args, ctx):
    d = _job(ctx, args.id)
    events = ctx.studio.jobs.events(args.id)
    d["events"] = events[-args.events :] if args.events else []
    log = ctx.studio.home.job_dir(args.id) / "log.txt"
    d["log_tail"] = log.read_text(encoding="utf-8", errors="replace")[-4000:] if log.exists() else ""
    return d


def cmd_jobs_cancel(args, ctx):
    state = ctx.studio.jobs.cancel(args.id)
    return {"id": args.id, "state": state}


def wait_for_job(ctx, job_id: int, timeout: float | None = None) -> dict:
    """Wait for a job; if no process runs the queue for this home, run it here."""
    jobs = ctx.studio.jobs
    jobs.try_become_runner()
    job = jobs.wait(job_id, timeout)
    from studio.jobs import TERMINAL, job_to_dict

    d = job_to_dict(job)
    if job.state not in TERMINAL:
        d["_exit"] = 1
        d["timed_out"] = True
    elif job.state != "succeeded":
        d["_exit"] = 1
    return d


def spawn_worker(ctx) -> None:
    """Start a detached `studio jobs work` for this home, unless a runner holds the lock."""
    import fcntl

    path = ctx.studio.home.jobs / ".runner.lock"
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # somebody runs the queue already
        fcntl.flock(f, fcntl.LOCK_UN)
    subprocess.Popen(
        [sys.executable, "-m", "studio", "--home", str(ctx.studio.home.root), "jobs", "work"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(ctx.studio.home.jobs / "worker.log", "ab"),
        start_new_session=True,
    )


def submit_and_maybe_wait(ctx, args, job_id: int) -> dict:
    if getattr(args, "wait", False):
        return wait_for_job(ctx, job_id)
    spawn_worker(ctx)
    return {"id": job_id, "state": "queued"}


def cmd_jobs_resume(args, ctx):
    ctx.studio.jobs.resume(args.id)
    return submit_and_maybe_wait(ctx, args, args.id)


def cmd_jobs_wait(args, ctx):
    return wait_for_job(ctx, args.id, args.timeout)


def cmd_jobs_submit(args, ctx):
    try:
        config = json.loads(args.config)
    except json.JSONDecodeError as e:
        raise UserError(f"--config is not valid JSON: {e}") from e
    job_id = ctx.studio.jobs.submit(args.kind, config, name=args.name)
    return submit_and_maybe_wait(ctx, args, job_id)


def cmd_jobs_work(args, ctx):
    ctx.studio.jobs.run_until_idle()
    return None


# ---- gui --------------------------------------------------------------------------------------
def cmd_gui(args, ctx):
    # The window lives in the `ui` layer, which the core never imports: run it as its own program.
    argv = [sys.executable, "-m", "ui"]
    if args.smoke:
        argv.append("--smoke")
    else:
        from studio.xcb_check import advice, missing_packages, uses_xcb

        if uses_xcb() and (missing := missing_packages()):
            print(advice(missing), file=sys.stderr)  # instead of Qt's abort
            sys.exit(3)
    if os.environ.get("STUDIO_HOME"):
        argv += ["--home", os.environ["STUDIO_HOME"]]
    sys.stdout.flush()
    os.execv(sys.executable, argv)

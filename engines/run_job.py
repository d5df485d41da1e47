"""Entry point of every job child process: `python -m engines.run_job JOB_DIR`.

The parent (studio.jobs) writes JOB_DIR/spec.json = {"job_id", "kind", "config", "resume",
"parent_pid"}; this module finds the job kind's function and runs it with a JobContext.
The same command runs a job headless or on a cluster node.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from pathlib import Path

from engines.jobkit import EXIT_FAILED, EXIT_OK, EXIT_STOPPED, JobContext, JobStopped

# kind -> "module:function"; each function is run(config: dict, ctx: JobContext) -> dict
JOB_KINDS = {
    "sft": "engines.training.sft:run_job",
    "reward": "engines.training.reward:run_job",
    "dpo": "engines.training.dpo:run_job",
    "grpo": "engines.training.grpo:run_job",
    "export": "engines.conversion.export:run_job",
}

# More kinds as "kind=module:function,...". The app sets nothing here; tests and benchmarks
# name their helper jobs (tests/helpers/dummy_job.py). The job child inherits the variable from
# the runner, so both sides resolve a kind the same way.
EXTRA_JOB_KINDS_ENV = "STUDIO_EXTRA_JOB_KINDS"


def job_kinds() -> dict[str, str]:
    """The built-in kinds plus those named in STUDIO_EXTRA_JOB_KINDS."""
    kinds = dict(JOB_KINDS)
    for pair in filter(None, os.environ.get(EXTRA_JOB_KINDS_ENV, "").split(",")):
        kind, _, target = pair.partition("=")
        if not kind or target.count(":") != 1:
            raise ValueError(f"{EXTRA_JOB_KINDS_ENV}: {pair!r} is not kind=module:function")
        if kind in JOB_KINDS:
            raise ValueError(f"{EXTRA_JOB_KINDS_ENV}: {kind!r} is a built-in job kind")
        kinds[kind] = target
    return kinds


def describe_error(e: BaseException) -> tuple[str, str | None]:
    """One sentence for the user, plus a hint, for the failures users actually hit."""
    text = f"{type(e).__name__}: {e}"
    hint = getattr(e, "hint", None)
    low = str(e).lower()
    if "out of memory" in low or isinstance(e, MemoryError):
        return (
            "Out of memory: " + str(e).splitlines()[0][:300],
            hint or "use a smaller batch size, a shorter max length, gradient checkpointing or QLoRA",
        )
    if isinstance(e, OSError) and getattr(e, "errno", None) == 28:
        return (
            f"The disk is full while writing {getattr(e, 'filename', '') or 'a file'}",
            hint or "free disk space, then Resume the job from its last checkpoint",
        )
    if hasattr(e, "message") and isinstance(getattr(e, "message"), str):
        return e.message, hint
    return text.splitlines()[0][:500], hint


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m engines.run_job JOB_DIR", file=sys.stderr)
        return 2
    job_dir = Path(argv[0])
    spec = json.loads((job_dir / "spec.json").read_text(encoding="utf-8"))
    ctx = JobContext(job_dir, spec)
    ctx.install_signal_handlers()
    kind = spec["kind"]
    try:
        target = job_kinds().get(kind)
        if not target:
            raise ValueError(f"unknown job kind {kind!r}")
        module, func = target.split(":")
        fn = getattr(importlib.import_module(module), func)
        ctx.emit("started", kind=kind, resume=ctx.resume)
        result = fn(ctx.config, ctx) or {}
        if ctx.stop_reason:
            ctx.emit("stopped", reason=ctx.stop_reason)
            return EXIT_STOPPED
        ctx.emit("done", result=result)
        return EXIT_OK
    except JobStopped:
        ctx.emit("stopped", reason=ctx.stop_reason or "stopped")
        return EXIT_STOPPED
    except BaseException as e:  # noqa: BLE001 - the child reports every failure as an event
        message, hint = describe_error(e)
        ctx.emit("error", message=message, hint=hint, exception=type(e).__name__)
        try:  # after the event: stderr is log.txt, which may sit on the disk that just filled up
            traceback.print_exc(file=sys.stderr)
        except OSError:
            pass
        return EXIT_FAILED
    finally:
        ctx.close()


if __name__ == "__main__":
    sys.exit(main())

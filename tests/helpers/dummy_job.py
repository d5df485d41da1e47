"""The `dummy` job kind: a small job that behaves like training (steps, a falling loss,
checkpoints, resume), for the job runner's tests and benchmarks.

The tests use it for run / cancel / kill-the-parent / interrupted-then-resume without waiting
on torch. Config: steps, step_seconds, checkpoint_every, fail_at_step.

The app does not know this kind: `register()` names it in STUDIO_EXTRA_JOB_KINDS, which the
runner and its job children read (tests/conftest.py calls it for every test).
"""

from __future__ import annotations

import json
import os
import time

from engines.jobkit import JobContext, JobStopped
from engines.run_job import EXTRA_JOB_KINDS_ENV

KIND = "dummy"


def register() -> None:
    """Make `dummy` a job kind for this process and every process it starts."""
    pairs = [p for p in os.environ.get(EXTRA_JOB_KINDS_ENV, "").split(",") if p and not p.startswith(f"{KIND}=")]
    os.environ[EXTRA_JOB_KINDS_ENV] = ",".join([*pairs, f"{KIND}=tests.helpers.dummy_job:run"])


def _save(ctx: JobContext, step: int) -> None:
    final = ctx.checkpoints_dir / f"checkpoint-{step}"
    tmp = ctx.checkpoints_dir / f".tmp-checkpoint-{step}"
    tmp.write_text(json.dumps({"step": step}))
    os.replace(tmp, final)
    ctx.checkpoint(final, step)


def run(config: dict, ctx: JobContext) -> dict:
    steps = int(config.get("steps", 10))
    delay = float(config.get("step_seconds", 0.05))
    every = int(config.get("checkpoint_every", 2))
    fail_at = config.get("fail_at_step")
    start = 0
    if ctx.resume and (ck := ctx.latest_checkpoint()) is not None:
        start = json.loads(ck.read_text())["step"]
        ctx.log(f"resumed from {ck.name}")
    for step in range(start + 1, steps + 1):
        if ctx.should_stop():
            _save(ctx, step - 1)
            raise JobStopped()
        time.sleep(delay)
        if fail_at is not None and step == int(fail_at):
            raise RuntimeError(f"dummy failure at step {step}")
        ctx.progress(step, steps, loss=1.0 / step, samples_per_s=1.0 / max(delay, 1e-3))
        if step % every == 0:
            _save(ctx, step)
    out = ctx.output_dir / "result.json"
    out.write_text(json.dumps({"steps": steps, "resumed_from": start}))
    ctx.artifact("result", out)
    return {"steps": steps, "resumed_from": start, "output": str(out)}

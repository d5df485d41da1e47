"""A small job that behaves like training: steps, a falling loss, checkpoints, resume.

The job runner's tests use it for run / cancel / kill-the-parent / interrupted-then-resume,
without waiting on torch. Config: steps, step_seconds, checkpoint_every, fail_at_step.
"""

from __future__ import annotations

import json
import os
import time

from engines.jobkit import JobContext, JobStopped


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

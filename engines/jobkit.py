"""The child side of a job: events out, stop requests in.

A job child is `python -m engines.run_job JOB_DIR`. It reads JOB_DIR/spec.json, calls the
job kind's function `run(config: dict, ctx: JobContext) -> dict`, and reports through
`ctx.emit(...)`: one JSON object per line on stdout (the parent stores each as a JobEvent)
and, so that nothing is lost when the parent dies, appended to JOB_DIR/events.jsonl.

A job function checks `ctx.should_stop()` at every safe point (a training step). It turns
true when the parent asked for a stop (SIGTERM: cancel) or when the parent process is gone
(the app was killed: the job saves a checkpoint and stops, and the next start offers Resume).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_STOPPED = 3  # stopped on request or because the parent died; checkpoints are intact


class JobStopped(Exception):
    """Raised by a job function after it stopped early at a safe point."""


class JobContext:
    def __init__(self, job_dir: str | os.PathLike, spec: dict[str, Any], *, stdout=None):
        self.job_dir = Path(job_dir)
        self.spec = spec
        self.job_id = spec.get("job_id")
        self.config: dict[str, Any] = spec.get("config", {})
        self.resume: bool = bool(spec.get("resume"))
        self.checkpoints_dir = self.job_dir / "checkpoints"
        self.output_dir = self.job_dir / "output"
        self.checkpoints_dir.mkdir(parents=True, exist_ok=True)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self._stdout = stdout if stdout is not None else sys.stdout
        self._events = open(self.job_dir / "events.jsonl", "a", encoding="utf-8")
        self._parent = int(spec.get("parent_pid") or os.getppid())
        self._stop_reason: str | None = None
        self._pipe_broken = False

    # -- stop requests -------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        def on_term(signum, _frame):
            self._stop_reason = self._stop_reason or "cancel"

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)

    def should_stop(self) -> bool:
        if self._stop_reason is None and (self._pipe_broken or not _alive(self._parent)):
            self._stop_reason = "parent-gone"
        return self._stop_reason is not None

    @property
    def stop_reason(self) -> str | None:
        return self._stop_reason

    def request_stop(self, reason: str) -> None:
        """A job may stop itself (a monitor that fired, a time budget)."""
        self._stop_reason = self._stop_reason or reason

    # -- events ------------------------------------------------------------------------------
    def emit(self, type: str, **data: Any) -> None:
        event = {"type": type, "ts": time.time(), **data}
        line = json.dumps(event, default=_json_default)
        try:
            self._events.write(line + "\n")
            self._events.flush()
        except OSError:  # a full disk: the parent still hears the event (and most need it: the error)
            pass
        if self._pipe_broken:
            return
        try:
            self._stdout.write(line + "\n")
            self._stdout.flush()
        except (BrokenPipeError, ValueError, OSError):
            self._pipe_broken = True

    def progress(self, step: int, total: int, **metrics: Any) -> None:
        self.emit("progress", step=step, total=total, **metrics)

    def log(self, message: str) -> None:
        self.emit("log", message=message)

    def checkpoint(self, path: str | os.PathLike, step: int) -> None:
        self.emit("checkpoint", path=str(path), step=step)

    def artifact(self, name: str, path: str | os.PathLike, **data: Any) -> None:
        self.emit("artifact", name=name, path=str(path), **data)

    def latest_checkpoint(self) -> Path | None:
        """The newest complete checkpoint folder or file (named checkpoint-<step>)."""
        best: tuple[int, Path] | None = None
        for p in self.checkpoints_dir.glob("checkpoint-*"):
            try:
                step = int(p.name.split("-", 1)[1].split(".")[0])
            except ValueError:
                continue  # a temporary name: a checkpoint that never finished
            if best is None or step > best[0]:
                best = (step, p)
        return best[1] if best else None

    def close(self) -> None:
        try:
            self._events.close()
        except OSError:  # the last lines could not be flushed to a full disk
            pass


def _alive(pid: int) -> bool:
    if pid <= 1:
        return False
    if os.getppid() != pid:  # re-parented: the parent died
        return False
    return True


def _json_default(o: Any):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
    except ImportError:
        pass
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    return str(o)

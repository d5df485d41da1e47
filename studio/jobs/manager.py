"""The job runner: a queue in the database, child processes, and a watcher thread each.

Ownership and threads:
- A job is a row (`Job`) whose state moves queued -> running -> succeeded | failed |
  cancelled | interrupted. Any process may submit, cancel or resume a job by writing the row.
- Exactly one process per data home *runs* jobs: the one holding the runner lock
  (`jobs/.runner.lock`, an fcntl lock the OS drops when the process dies). The GUI takes
  it at start; the CLI takes it for `--wait` or spawns `studio jobs work` in the background.
- The runner's scheduler thread starts children (`python -m engines.run_job JOB_DIR`), one
  heavy (GPU) job at a time. A watcher thread per child reads its JSON lines, stores them as
  JobEvents (all lines of one read in one transaction, a few a second, as that thread holds the
  window's GIL), updates the row and calls subscribers with plain dicts. Subscribers run on the
  watcher thread: the UI adapts them to Qt signals, it never touches widgets there.
- A job left `running` by a dead runner is marked `interrupted` when the next runner starts;
  Resume queues it again with `resume=True`, and the job continues from its last checkpoint.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from engines.run_job import job_kinds
from studio.db import Database, Job, JobEvent
from studio.db.models import utcnow
from studio.errors import NotFound, UserError
from studio.home import Home, atomic_write_text

TERMINAL = ("succeeded", "failed", "cancelled", "interrupted")
EXIT_STOPPED = 3
Subscriber = Callable[[int, dict[str, Any]], None]


def done_result(db: Database, job_id: int) -> dict[str, Any]:
    """The result a job's child reported in its last `done` event ({} if none); the runner
    stores it on the row only after the finishers, so a finisher reads it here."""
    with db.session() as s:
        ev = s.scalar(select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.type == "done")
                      .order_by(JobEvent.seq.desc()).limit(1))
        return dict((ev.data or {}).get("result") or {}) if ev is not None else {}


def _job_row(s, job_id: int, hint: str | None = None) -> Job:
    job = s.get(Job, job_id)
    if job is None:
        raise NotFound(f"No job with id {job_id}", hint=hint)
    return job


def job_to_dict(j: Job) -> dict[str, Any]:
    return {
        "id": j.id,
        "kind": j.kind,
        "name": j.name,
        "state": j.state,
        "step": j.step,
        "total": j.total,
        "progress": (j.step / j.total) if j.total else 0.0,
        "message": j.message,
        "error": j.error,
        "hint": j.hint,
        "config": j.config,
        "result": j.result,
        "output_dir": j.output_dir,
        "base_model_id": j.base_model_id,
        "dataset_version_id": j.dataset_version_id,
        "parent_job_id": j.parent_job_id,
        "resume": j.resume,
        "created_at": j.created_at.isoformat() if j.created_at else None,
        "started_at": j.started_at.isoformat() if j.started_at else None,
        "finished_at": j.finished_at.isoformat() if j.finished_at else None,
    }


class _Running:
    def __init__(self, job_id: int, proc: subprocess.Popen, heavy: bool):
        self.job_id = job_id
        self.proc = proc
        self.heavy = heavy
        self.term_sent_at: float | None = None


class JobManager:
    """Submit, watch, cancel and resume jobs of one data home."""

    def __init__(self, db: Database, home: Home, *, cancel_grace_s: float = 20.0, intake_interval_s: float = 0.25):
        self.db = db
        self.home = home
        self.cancel_grace_s = cancel_grace_s
        self.intake_interval_s = intake_interval_s  # events gather this long between commits
        self._subscribers: list[Subscriber] = []
        self._running: dict[int, _Running] = {}
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock_file = None

    # ---- submitting and controlling ----------------------------------------------------------
    def submit(
        self,
        kind: str,
        config: dict[str, Any],
        *,
        name: str = "",
        heavy: bool = True,
        base_model_id: int | None = None,
        dataset_version_id: int | None = None,
        parent_job_id: int | None = None,
    ) -> int:
        kinds = job_kinds()
        if kind not in kinds:
            raise UserError(f"There is no job kind {kind!r}", hint="the kinds are " + ", ".join(sorted(kinds)))
        json.dumps(config)  # a config must be plain data; fail here, not in the child
        with self.db.session() as s:
            job = Job(
                kind=kind,
                name=name or kind,
                config=config,
                heavy=heavy,
                base_model_id=base_model_id,
                dataset_version_id=dataset_version_id,
                parent_job_id=parent_job_id,
            )
            s.add(job)
            s.flush()
            job.output_dir = str(self.home.job_dir(job.id) / "output")
            job_id = job.id
        self._publish(job_id, {"type": "state", "state": "queued"})
        self._wake.set()
        return job_id

    def get(self, job_id: int) -> Job:
        with self.db.session() as s:
            return _job_row(s, job_id, hint="see `studio jobs list`")

    def list(self, limit: int = 200) -> list[Job]:
        with self.db.session() as s:
            return list(s.scalars(select(Job).order_by(Job.id.desc()).limit(limit)))

    def events(self, job_id: int, after_seq: int = 0, types: tuple[str, ...] | None = None) -> list[dict]:
        with self.db.session() as s:
            q = select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.seq > after_seq)
            if types:
                q = q.where(JobEvent.type.in_(types))
            return [{"seq": e.seq, "type": e.type, "ts": e.ts, **e.data} for e in s.scalars(q.order_by(JobEvent.seq))]

    def cancel(self, job_id: int) -> str:
        """Request a stop. A queued job is cancelled at once; a running one gets SIGTERM, then
        SIGKILL after the grace period (by whichever process runs it)."""
        with self.db.session() as s:
            job = _job_row(s, job_id)
            if job.state in TERMINAL:
                raise UserError(f"Job {job_id} is {job.state} already; there is nothing to cancel")
            job.cancel_requested = True
            if job.state == "queued":
                job.state = "cancelled"
                job.finished_at = utcnow()
                state = "cancelled"
            else:
                state = "cancelling"
                pid = job.pid
        if state == "cancelling":
            with self._lock:
                run = self._running.get(job_id)
            if run is not None:
                self._terminate(run)
            elif pid and _is_job_process(pid, self.home.job_dir(job_id)):
                os.kill(pid, signal.SIGTERM)
        self._publish(job_id, {"type": "state", "state": state})
        self._wake.set()
        return state

    def resume(self, job_id: int) -> None:
        with self.db.session() as s:
            job = _job_row(s, job_id)
            if job.state not in ("interrupted", "failed", "cancelled"):
                raise UserError(
                    f"Job {job_id} is {job.state}; only an interrupted, failed or cancelled job can be resumed"
                )
            job.state = "queued"
            job.resume = True
            job.cancel_requested = False
            job.error = None
            job.hint = None
            job.finished_at = None
        self._publish(job_id, {"type": "state", "state": "queued"})
        self._wake.set()

    def wait(self, job_id: int, timeout: float | None = None, poll: float = 0.2) -> Job:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job.state in TERMINAL:
                return job
            if deadline is not None and time.monotonic() > deadline:
                return job
            time.sleep(poll)

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """fn(job_id, event) is called on a background thread for every event of every job."""
        with self._lock:
            self._subscribers.append(fn)

        def unsubscribe() -> None:
            with self._lock:
                if fn in self._subscribers:
                    self._subscribers.remove(fn)

        return unsubscribe

    # ---- the runner ---------------------------------------------------------------------------
    def try_become_runner(self) -> bool:
        """Take the home's runner lock; on success recover stale jobs and start scheduling."""
        if self._thread is not None:
            return True
        path = self.home.jobs / ".runner.lock"
        f = open(path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return False
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._lock_file = f
        self.recover()
        self._stop.clear()
        self._thread = threading.Thread(target=self._schedule_loop, name="studio-jobs", daemon=True)
        self._thread.start()
        return True

    @property
    def is_runner(self) -> bool:
        return self._thread is not None

    def recover(self) -> list[int]:
        """Mark jobs left `running` by a dead runner as interrupted (their checkpoints stay)."""
        fixed = []
        with self.db.session() as s:
            stale = list(s.scalars(select(Job).where(Job.state == "running")))
            for job in stale:
                if job.id in self._running:
                    continue
                if job.pid and _is_job_process(job.pid, self.home.job_dir(job.id)):
                    _stop_orphan(job.pid)
                job.state = "cancelled" if job.cancel_requested else "interrupted"
                job.finished_at = utcnow()
                job.message = "the app stopped while this job ran; Resume continues from the last checkpoint"
                fixed.append(job.id)
        for job_id in fixed:
            self._publish(job_id, {"type": "state", "state": "interrupted"})
        return fixed

    def run_until_idle(self, poll: float = 0.5) -> None:
        """For `studio jobs work`: run the queue until nothing is queued or running."""
        if not self.try_become_runner():
            return
        while True:
            time.sleep(poll)
            with self._lock:
                busy = bool(self._running)
            if not busy and not self._next_queued():
                break
        self.shutdown(stop_jobs=False)

    def shutdown(self, stop_jobs: bool = True) -> None:
        """Stop scheduling. With stop_jobs, running children are asked to stop (they
        checkpoint and exit; the next start shows them as interrupted)."""
        self._stop.set()
        self._wake.set()
        if stop_jobs:
            with self._lock:
                runs = list(self._running.values())
            for run in runs:
                if run.proc.poll() is None:
                    run.proc.send_signal(signal.SIGTERM)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _schedule_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._escalate_cancels()
                self._start_next()
            except Exception:  # noqa: BLE001 - keep the runner alive; the error goes to the log
                import traceback

                traceback.print_exc()
            self._wake.wait(0.5)
            self._wake.clear()

    def _next_queued(self) -> Job | None:
        with self.db.session() as s:
            return s.scalar(select(Job).where(Job.state == "queued").order_by(Job.id).limit(1))

    def _start_next(self) -> None:
        with self._lock:
            heavy_busy = any(r.heavy for r in self._running.values())
        with self.db.session() as s:
            q = select(Job).where(Job.state == "queued").order_by(Job.id)
            for job in s.scalars(q):
                if job.heavy and heavy_busy:
                    continue
                claimed = s.execute(
                    update(Job).where(Job.id == job.id, Job.state == "queued").values(state="running")
                ).rowcount
                if claimed:
                    s.commit()
                    self._launch(job.id)
                    return

    def _launch(self, job_id: int) -> None:
        job = self.get(job_id)
        job_dir = self.home.job_dir(job_id)
        job_dir.mkdir(parents=True, exist_ok=True)
        spec = {
            "job_id": job_id,
            "kind": job.kind,
            "config": job.config,
            "resume": job.resume,
            "parent_pid": os.getpid(),
            "home": str(self.home.root),
        }
        atomic_write_text(job_dir / "spec.json", json.dumps(spec, indent=2))
        env = {**os.environ, **self.home.cache_env(), "PYTHONUNBUFFERED": "1", "STUDIO_HOME": str(self.home.root)}
        project_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = project_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        log = open(job_dir / "log.txt", "ab")
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "engines.run_job", str(job_dir)],
                stdout=subprocess.PIPE,
                stderr=log,
                stdin=subprocess.DEVNULL,
                cwd=str(job_dir),
                env=env,
                start_new_session=True,  # Ctrl-C in a terminal must not kill the job mid-write
            )
        except OSError as e:
            log.close()
            self._finish(job_id, "failed", error=f"Could not start the job process: {e}", hint=None)
            return
        log.close()  # the child holds its own descriptor
        run = _Running(job_id, proc, job.heavy)
        with self._lock:
            self._running[job_id] = run
        with self.db.session() as s:
            j = s.get(Job, job_id)
            j.pid = proc.pid
            j.started_at = j.started_at or utcnow()
            j.message = "resuming from the last checkpoint" if j.resume else "starting"
        self._publish(job_id, {"type": "state", "state": "running"})
        threading.Thread(target=self._watch, args=(run,), name=f"job-{job_id}", daemon=True).start()

    def _watch(self, run: _Running) -> None:
        """Read the child's JSON lines in batches: everything that arrived since the last read is
        parsed and stored in one transaction, then published. At most one commit per
        `intake_interval_s`, so a fast job (tens of events a second) costs the window's process
        a few commits a second instead of one per event."""
        job_id = run.job_id
        with self.db.session() as s:
            seq = s.scalar(select(JobEvent.seq).where(JobEvent.job_id == job_id).order_by(JobEvent.seq.desc()).limit(1)) or 0
        last_error: dict[str, Any] | None = None
        result: dict[str, Any] | None = None
        stop_reason = None
        assert run.proc.stdout is not None
        fd = run.proc.stdout.fileno()
        partial = b""
        while True:
            chunk = os.read(fd, 1 << 16)  # blocks until the child writes, or its end of the pipe closes
            if chunk:
                *lines, partial = (partial + chunk).split(b"\n")
            else:  # the child is gone: a last line without a newline still counts
                lines, partial = [partial], b""
            batch = []
            for raw in lines:
                line = raw.decode("utf-8", errors="replace").strip()
                if not line:
                    continue
                try:
                    event = json.loads(line)
                    if not isinstance(event, dict) or "type" not in event:
                        raise ValueError
                except ValueError:
                    event = {"type": "log", "message": line, "ts": time.time()}
                seq += 1
                batch.append((seq, event))
                if event["type"] == "error":
                    last_error = event
                elif event["type"] == "done":
                    result = event.get("result") or {}
                elif event["type"] == "stopped":
                    stop_reason = event.get("reason")
            if batch:
                self._store_events(job_id, batch)
                for n, event in batch:
                    self._publish(job_id, {"seq": n, **event})
            if not chunk:
                break
            time.sleep(self.intake_interval_s)  # let the next events gather into one transaction
        code = run.proc.wait()
        with self._lock:
            self._running.pop(job_id, None)
        cancel_requested = self.get(job_id).cancel_requested
        if cancel_requested:
            self._finish(job_id, "cancelled", message="cancelled")
        elif code == 0:
            with self.db.session() as s:  # finishers read the child's result from the row
                s.get(Job, job_id).result = result or {}
            try:
                extra = self._run_finisher(job_id)
            except Exception as e:  # noqa: BLE001 - a finisher failure fails the job, visibly
                msg = getattr(e, "message", None) or f"{type(e).__name__}: {e}"
                self._finish(job_id, "failed", error=f"The job finished but its output could not be registered: {msg}",
                             hint=getattr(e, "hint", None), result=result or {}, message="failed")
            else:
                self._finish(job_id, "succeeded", result={**(result or {}), **extra}, message="finished")
        elif code == EXIT_STOPPED:
            self._finish(job_id, "interrupted", message=f"stopped ({stop_reason}); Resume continues from the last checkpoint")
        elif code < 0 and last_error is None:
            # killed from outside (kill -9, the OOM killer, a shutdown): its checkpoints are whole
            error = f"The job process was killed by {signal.Signals(-code).name}"
            hint = ("Resume continues from the last checkpoint; if the machine ran out of memory, "
                    "use a smaller batch or a shorter max length")
            self._finish(job_id, "interrupted", error=error, hint=hint, message=error)
        else:
            if last_error is not None:
                error, hint = last_error.get("message", "failed"), last_error.get("hint")
            else:
                error, hint = f"The job process exited with code {code}", None
            self._finish(job_id, "failed", error=error, hint=hint, message=error)
        self._wake.set()

    def _run_finisher(self, job_id: int) -> dict[str, Any]:
        import importlib

        from studio.jobs.finishers import FINISHERS

        job = self.get(job_id)
        target = FINISHERS.get(job.kind)
        if not target:
            return {}
        module, func = target.split(":")
        return getattr(importlib.import_module(module), func)(self.db, self.home, job) or {}

    def _store_events(self, job_id: int, batch: list[tuple[int, dict[str, Any]]]) -> None:
        """Store (seq, event) pairs and the job row's step/message they imply, in one transaction."""
        values: dict[str, Any] = {}
        with self.db.session() as s:
            for seq, event in batch:
                data = {k: v for k, v in event.items() if k not in ("type", "ts")}
                s.add(JobEvent(job_id=job_id, seq=seq, type=event["type"], ts=float(event.get("ts", time.time())), data=data))
                if event["type"] == "progress":
                    values.update(step=int(event.get("step", 0)), total=int(event.get("total", 0)))
                    values["message"] = f"step {values['step']}/{values['total']}"
                    if "loss" in event:
                        values["message"] += f" · loss {float(event['loss']):.4f}"
                elif event["type"] == "log":
                    values["message"] = str(event.get("message", ""))[:500]
            if values:
                s.execute(update(Job).where(Job.id == job_id).values(**values))

    def _finish(self, job_id: int, state: str, *, error=None, hint=None, result=None, message=None) -> None:
        with self.db.session() as s:
            job = s.get(Job, job_id)
            job.state = state
            job.finished_at = utcnow()
            job.pid = None
            job.resume = False
            if error is not None:
                job.error = error
                job.hint = hint
            if result is not None:
                job.result = result
            if message is not None:
                job.message = message
        self._publish(job_id, {"type": "state", "state": state, "error": error, "hint": hint})

    def _terminate(self, run: _Running) -> None:
        if run.proc.poll() is None and run.term_sent_at is None:
            run.term_sent_at = time.monotonic()
            try:
                run.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    def _escalate_cancels(self) -> None:
        with self._lock:
            runs = list(self._running.values())
        if not runs:
            return
        with self.db.session() as s:
            wanted = set(s.scalars(select(Job.id).where(Job.id.in_([r.job_id for r in runs]), Job.cancel_requested)))
        for run in runs:
            if run.job_id in wanted:
                self._terminate(run)
            if run.term_sent_at is not None and time.monotonic() - run.term_sent_at > self.cancel_grace_s:
                if run.proc.poll() is None:
                    run.proc.kill()

    def _publish(self, job_id: int, event: dict[str, Any]) -> None:
        with self._lock:
            subs = list(self._subscribers)
        for fn in subs:
            try:
                fn(job_id, event)
            except Exception:  # noqa: BLE001 - a broken subscriber must not stop the runner
                import traceback

                traceback.print_exc()


def _is_job_process(pid: int, job_dir: Path) -> bool:
    """True when pid is a live job child for this job dir (pids get reused)."""
    try:
        import psutil

        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return False
        cmd = p.cmdline()
    except Exception:  # noqa: BLE001 - gone, or not ours to inspect
        return False
    return "engines.run_job" in cmd and str(job_dir) in cmd


def _stop_orphan(pid: int, grace: float = 15.0) -> None:
    """An orphaned child notices its parent died and checkpoints; give it time, then kill."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass

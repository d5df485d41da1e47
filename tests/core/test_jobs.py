"""The job runner: real child processes running the dummy job (steps + checkpoints)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

from engines.run_job import EXTRA_JOB_KINDS_ENV, job_kinds
from studio.core import open_studio
from studio.errors import UserError
from tests.helpers.polling import until


@pytest.fixture
def runner(studio):
    assert studio.jobs.try_become_runner()
    return studio


def test_job_runs_in_a_child_process_and_reports_events(runner):
    seen = []
    runner.jobs.subscribe(lambda job_id, ev: seen.append((job_id, ev)))
    job_id = runner.jobs.submit("dummy", {"steps": 6, "checkpoint_every": 2})
    job = runner.jobs.wait(job_id, timeout=60)
    assert job.state == "succeeded", job.error
    assert job.step == 6 and job.total == 6
    assert job.result["steps"] == 6 and job.result["resumed_from"] == 0
    events = runner.jobs.events(job_id)
    assert [e["step"] for e in events if e["type"] == "progress"] == [1, 2, 3, 4, 5, 6]
    assert [e["step"] for e in events if e["type"] == "checkpoint"] == [2, 4, 6]
    assert events[-1]["type"] == "done"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    job_dir = runner.home.job_dir(job_id)
    assert (job_dir / "spec.json").exists() and (job_dir / "log.txt").exists()
    assert len((job_dir / "events.jsonl").read_text().splitlines()) == len(events)
    assert any(ev.get("type") == "progress" for jid, ev in seen if jid == job_id)
    assert any(ev.get("state") == "succeeded" for jid, ev in seen if jid == job_id)


def test_a_failing_job_is_marked_failed_with_one_sentence(runner):
    job_id = runner.jobs.submit("dummy", {"steps": 5, "fail_at_step": 3})
    job = runner.jobs.wait(job_id, timeout=60)
    assert job.state == "failed"
    assert job.error == "RuntimeError: dummy failure at step 3"
    assert "Traceback" in (runner.home.job_dir(job_id) / "log.txt").read_text()


def test_cancel_stops_the_child_and_marks_the_job_cancelled(runner):
    job_id = runner.jobs.submit("dummy", {"steps": 1000, "step_seconds": 0.05})
    until(lambda: runner.jobs.get(job_id).step >= 2)
    pid = runner.jobs.get(job_id).pid
    assert psutil.pid_exists(pid)
    runner.jobs.cancel(job_id)
    job = runner.jobs.wait(job_id, timeout=30)
    assert job.state == "cancelled"
    assert job.step < 1000
    until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, timeout=10)


def test_cancel_escalates_to_kill_when_the_child_ignores_it(studio):
    studio.jobs.cancel_grace_s = 0.5
    assert studio.jobs.try_become_runner()
    # a job kind whose child ignores SIGTERM and never checks should_stop
    job_id = studio.jobs.submit("dummy", {"steps": 1, "step_seconds": 120})
    until(lambda: studio.jobs.get(job_id).pid)
    job_pid = studio.jobs.get(job_id).pid
    until(lambda: "engines.run_job" in " ".join(psutil.Process(job_pid).cmdline()))
    time.sleep(0.5)  # let the child install its handler, then make it deaf
    os.kill(job_pid, signal.SIGSTOP)
    studio.jobs.cancel(job_id)
    job = studio.jobs.wait(job_id, timeout=30)
    assert job.state == "cancelled"


def test_a_kind_the_app_does_not_have_is_refused_at_submit(studio, monkeypatch):
    """`dummy` exists only because tests/conftest.py registers it: the app refuses it."""
    monkeypatch.delenv(EXTRA_JOB_KINDS_ENV)
    with pytest.raises(UserError, match="There is no job kind 'dummy'") as refused:
        studio.jobs.submit("dummy", {"steps": 3})
    assert refused.value.hint == "the kinds are dpo, export, grpo, reward, sft"
    assert studio.jobs.list() == []


def test_an_extra_job_kind_names_a_function_and_cannot_replace_a_built_in(monkeypatch):
    monkeypatch.setenv(EXTRA_JOB_KINDS_ENV, "dummy=tests.helpers.dummy_job")
    with pytest.raises(ValueError, match="is not kind=module:function"):
        job_kinds()
    monkeypatch.setenv(EXTRA_JOB_KINDS_ENV, "sft=tests.helpers.dummy_job:run")
    with pytest.raises(ValueError, match="'sft' is a built-in job kind"):
        job_kinds()


def test_cancel_of_a_queued_job_is_immediate(studio):
    job_id = studio.jobs.submit("dummy", {"steps": 3})
    assert studio.jobs.cancel(job_id) == "cancelled"
    assert studio.jobs.get(job_id).state == "cancelled"


def test_heavy_jobs_run_one_at_a_time_in_queue_order(runner):
    a = runner.jobs.submit("dummy", {"steps": 4, "step_seconds": 0.1})
    b = runner.jobs.submit("dummy", {"steps": 2, "step_seconds": 0.05})
    ja = runner.jobs.wait(a, timeout=60)
    jb = runner.jobs.wait(b, timeout=60)
    assert ja.state == jb.state == "succeeded"
    assert jb.started_at >= ja.finished_at


RUNNER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {root!r})
    from studio.core import open_studio
    st = open_studio({home!r}, ensure_default_model=False)
    assert st.jobs.try_become_runner()
    job_id = st.jobs.submit("dummy", {{"steps": 10000, "step_seconds": 0.05, "checkpoint_every": 5}})
    print(job_id, flush=True)
    time.sleep(600)
    """
)


def test_killing_the_app_interrupts_the_job_and_resume_continues(tmp_path):
    """kill -9 of the runner: the child notices, checkpoints and stops; the next start shows
    the job interrupted; Resume continues from the last checkpoint."""
    home = tmp_path / "home"
    open_studio(home, ensure_default_model=False).close()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    app = subprocess.Popen(
        [sys.executable, "-c", RUNNER_SCRIPT.format(root=root, home=str(home))], stdout=subprocess.PIPE, text=True
    )
    job_id = int(app.stdout.readline())
    st = open_studio(home, ensure_default_model=False)
    try:
        until(lambda: st.jobs.get(job_id).step >= 12, timeout=60)
        child = st.jobs.get(job_id).pid
        app.kill()  # SIGKILL: no cleanup in the app at all
        app.wait()
        # the orphan stops by itself at its next step, after writing a checkpoint
        until(lambda: not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE, timeout=20)
        events = [json.loads(x) for x in (home / "jobs" / str(job_id) / "events.jsonl").read_text().splitlines()]
        assert events[-1] == {**events[-1], "type": "stopped", "reason": "parent-gone"}
        stopped_at = max(e["step"] for e in events if e["type"] == "checkpoint")
        assert st.jobs.get(job_id).state == "running"  # nobody has looked yet
        # next start of the app
        assert st.jobs.try_become_runner()
        job = st.jobs.get(job_id)
        assert job.state == "interrupted"
        # resume with a short run, from the last checkpoint
        with st.db.session() as s:
            from studio.db import Job

            s.get(Job, job_id).config = {"steps": stopped_at + 3, "step_seconds": 0.01, "checkpoint_every": 5}
        st.jobs.resume(job_id)
        job = st.jobs.wait(job_id, timeout=60)
        assert job.state == "succeeded", job.error
        assert job.result["resumed_from"] == stopped_at
        progress = [e["step"] for e in st.jobs.events(job_id) if e["type"] == "progress"]
        assert progress[-3:] == [stopped_at + 1, stopped_at + 2, stopped_at + 3]
    finally:
        if app.poll() is None:
            app.kill()
        st.close()


def test_only_one_process_runs_the_queue(tmp_path):
    a = open_studio(tmp_path / "h", ensure_default_model=False)
    b = open_studio(tmp_path / "h", ensure_default_model=False)
    try:
        assert a.jobs.try_become_runner()
        assert not b.jobs.try_become_runner()
        job_id = b.jobs.submit("dummy", {"steps": 2})
        assert b.jobs.wait(job_id, timeout=60).state == "succeeded"  # run by a
    finally:
        a.close()
        b.close()

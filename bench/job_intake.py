"""What the job runner's event intake costs the process that runs the queue (the window's).

A dummy job child reports progress events as fast as it can (each with ten metrics, like a
training step); the runner's watcher thread parses them, stores them as JobEvents and updates
the job row. This measures that thread's CPU time per event (thread CPU time, so other load on
the machine does not count) and the commits it made. Every second of CPU it holds is a second
the GUI thread waits for the GIL.

    .venv/bin/python bench/job_intake.py [--events 3000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=3000)
    ap.add_argument("--step-seconds", type=float, default=0.001, help="the child's pause per event (0.033: ~30 events/s)")
    a = ap.parse_args()
    import psutil
    from sqlalchemy import event

    from studio.core import open_studio
    from tests.helpers import dummy_job

    dummy_job.register()
    with tempfile.TemporaryDirectory() as tmp:
        st = open_studio(Path(tmp) / "home", ensure_default_model=False)
        commits = [0]
        event.listen(st.db.engine, "commit", lambda _conn: commits.__setitem__(0, commits[0] + 1))
        assert st.jobs.try_become_runner()
        job_id = st.jobs.submit("dummy", {"steps": a.events, "step_seconds": a.step_seconds, "checkpoint_every": 10**9})
        watcher = None
        while watcher is None:
            watcher = next((t for t in threading.enumerate() if t.name == f"job-{job_id}"), None)
            time.sleep(0.01)
        me = psutil.Process()
        cpu = 0.0
        while st.jobs.get(job_id).state not in ("succeeded", "failed"):
            for t in me.threads():  # the last reading before the thread ends is the figure
                if t.id == watcher.native_id:
                    cpu = t.user_time + t.system_time
            time.sleep(0.05)
        n = len(st.jobs.events(job_id))
        st.close()
    print(json.dumps({
        "events": n, "watcher_cpu_s": round(cpu, 3), "watcher_cpu_ms_per_event": round(cpu * 1000 / n, 3),
        "commits": commits[0], "events_per_commit": round(n / max(commits[0], 1), 1), "load_average": os.getloadavg()[0],
    }, indent=2))


if __name__ == "__main__":
    main()

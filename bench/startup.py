"""Startup benchmark: `studio gui --smoke` to first paint, and idle RSS.

    .venv/bin/python bench/startup.py [--runs 5]

Prints the median of N second launches (the first launch of a fresh home is reported on
its own: it assembles the default model) next to a bare PySide6 window measured the same way
in the same run, and the ratio. Targets (issue 2): second launch <= 1.5 s, idle RSS <= 250 MB,
and no torch / transformers / llama_cpp imported at start.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BARE = """
import json, sys, time, psutil
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow, QLabel
app = QApplication(sys.argv[:1])
w = QMainWindow(); w.setCentralWidget(QLabel("bare")); w.resize(1280, 800)
class F(QMainWindow): pass
done = []
def paint(ev, orig=w.paintEvent):
    orig(ev)
    if not done:
        done.append(1)
        p = psutil.Process()
        print(json.dumps({"startup_s": time.time() - p.create_time(), "rss_mb": p.memory_info().rss / 2**20}))
        QTimer.singleShot(0, app.quit)
w.paintEvent = paint
w.show()
app.exec()
"""


def run(cmd, env) -> dict:
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{cmd} failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        studio = [sys.executable, "-m", "studio", "--home", str(home), "gui", "--smoke"]
        first = run(studio, env)
        runs = [run(studio, env) for _ in range(args.runs)]
        bare = [run([sys.executable, "-c", BARE], env) for _ in range(args.runs)]
    s_med = statistics.median(r["startup_s"] for r in runs)
    b_med = statistics.median(r["startup_s"] for r in bare)
    rss = statistics.median(r["rss_mb"] for r in runs)
    b_rss = statistics.median(r["rss_mb"] for r in bare)
    heavy = sorted({m for r in runs for m in r.get("heavy_modules", [])})
    print(f"first launch (assembles the default model): {first['startup_s']:.3f} s")
    print(f"second launch, median of {args.runs}: {s_med:.3f} s   bare PySide6 window: {b_med:.3f} s   ratio {s_med / b_med:.2f}")
    print(f"idle RSS: {rss:.0f} MB   bare window: {b_rss:.0f} MB   ratio {rss / b_rss:.2f}")
    print(f"heavy modules imported at start: {heavy or 'none'}")
    print(f"targets: start <= 1.5 s -> {'met' if s_med <= 1.5 else 'MISSED'}; RSS <= 250 MB -> {'met' if rss <= 250 else 'MISSED'}")


if __name__ == "__main__":
    main()

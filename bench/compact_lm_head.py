"""Does scoring only the labelled positions speed up training on CPU, and change nothing else?

trl's fused LM head projects every position through the LM head on CPU and masks the prompt and
padding afterwards; `score_labelled_positions_only()` (engines/training/common.py) makes it
project only the positions with a label, as trl does on Triton GPUs. This runs the same SFT steps
on gemma-3-270m and rows of the starter curriculum both ways, each in its own child process
(the switch is process-wide), and prints the mean step time of each, their ratio, and the
largest difference between the two runs' logged losses (which should be float noise).

    .venv/bin/python bench/compact_lm_head.py [--steps 8] [--rows 128] [--hf-dir DIR]

Without --hf-dir the packaged GGUF is converted to a Hugging Face folder once (about a minute),
under the system temp folder. Step 1 (warm-up) is left out of the means.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
CURRICULUM = ROOT / "studio" / "starter" / "data" / "curriculum" / "sft.jsonl"


def hf_base(hf_dir: str | None) -> Path:
    if hf_dir:
        return Path(hf_dir)
    from chat_overhead import model_path

    from engines.training.common import ensure_hf_base

    out = Path(tempfile.gettempdir()) / "studio-bench" / "gemma-3-270m-hf"
    ensure_hf_base(out, model_path(), lambda *a, **k: None)
    return out


def child(variant: str, base: str, steps: int, rows: int, work: Path) -> dict:
    """One SFT run in this process: `full` (trl as shipped) or `compact`."""
    from trl.trainer import utils as trl_utils

    from engines.training import common
    from engines.training.sft import SFTJobConfig, run_sft

    if variant == "full":  # load_base installs the switch: keep trl's own decision instead
        common.score_labelled_positions_only = lambda: False
    data = [json.loads(line) for line in CURRICULUM.read_text(encoding="utf-8").splitlines() if line.strip()]
    random.Random(1).shuffle(data)
    train = work / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in data[:rows]), encoding="utf-8")
    cfg = SFTJobConfig(base_model_path=base, train_file=str(train), output_dir=str(work / "out"),
                       checkpoint_dir=str(work / "ck"), chat_template="gemma", lora_r=16, lora_alpha=32,
                       learning_rate=1e-3, warmup_steps=2, max_steps=steps, batch_size=8, max_length=256,
                       group_by_length=True, save_steps=0)
    times, losses = [], []

    def emit(kind, **d):
        if kind == "progress" and "loss" in d:
            times.append(time.monotonic())
            losses.append(d["loss"])

    run_sft(cfg, emit, lambda: False, workdir=str(work))
    compact = getattr(trl_utils._use_triton, "studio_compact", False)
    return {"variant": variant, "compact": compact, "step_s": [b - a for a, b in zip(times, times[1:])], "losses": losses}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--rows", type=int, default=128)
    ap.add_argument("--hf-dir")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        variant, work = args.child.split(":", 1)
        print(json.dumps(child(variant, args.hf_dir, args.steps, args.rows, Path(work))))
        return 0
    base = hf_base(args.hf_dir)
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in ("full", "compact"):
            work = Path(tmp) / variant
            work.mkdir()
            out = subprocess.run([sys.executable, __file__, "--child", f"{variant}:{work}", "--hf-dir", str(base),
                                  "--steps", str(args.steps), "--rows", str(args.rows)],
                                 capture_output=True, text=True, check=True)
            runs[variant] = json.loads(out.stdout.strip().splitlines()[-1])
    mean = {v: sum(r["step_s"]) / len(r["step_s"]) for v, r in runs.items()}
    drift = max(abs(a - b) for a, b in zip(runs["full"]["losses"], runs["compact"]["losses"]))
    load = os.getloadavg()[0]
    print(f"gemma-3-270m SFT, batch 8, {args.rows} starter rows, steps 2-{args.steps} (load average {load:.1f})")
    print(f"  every position scored (trl on CPU):  {mean['full']:.2f} s a step")
    print(f"  labelled positions only (studio):    {mean['compact']:.2f} s a step")
    print(f"  ratio compact / full: {mean['compact'] / mean['full']:.2f}   largest loss difference: {drift:.2e}")
    assert runs["compact"]["compact"] and not runs["full"]["compact"], runs
    return 0


if __name__ == "__main__":
    sys.exit(main())

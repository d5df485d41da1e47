"""Does the studio add overhead to training? The same SFT run through the studio's job path
(TrainingService -> job runner -> child process -> engines.training.sft) and as a plain trl
script (SFTTrainer + peft, nothing else), in the same run, on the same data and model.

Both report samples/s measured the same way: optimizer steps x effective batch, divided by the
time from the trainer's on_train_begin to the last step (model loading and tokenising excluded,
which both paths pay alike), in wall-clock seconds and in CPU seconds of the training process.
On a shared machine (other programs competing for the cores) wall-clock figures swing by 10x
from run to run; CPU seconds are what the studio could add, so that ratio is the headline.
Target: studio / plain >= 0.95.

    .venv/bin/python bench/sft_overhead.py [--steps 30] [--hidden 256] [--layers 4]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def rows(n: int) -> list[dict]:
    return [
        {"messages": [{"role": "user", "content": f"Please add {i} and {i + 1}, then explain the result briefly."},
                      {"role": "assistant", "content": f"ANSWER: {2 * i + 1}. The sum of {i} and {i + 1} is {2 * i + 1}."}]}
        for i in range(n)
    ]


def plain_trl(model_dir: Path, train_file: Path, out: Path, steps: int, batch: int) -> float:
    """The baseline: what a user would write with trl directly."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    from engines.templates import get_template

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.chat_template = get_template("gemma").training
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"))
    data = Dataset.from_list([json.loads(line) for line in train_file.read_text().splitlines()])

    class Clock(TrainerCallback):
        t0 = t1 = c0 = c1 = 0.0

        def on_train_begin(self, args, state, control, **kw):
            Clock.t0, Clock.c0 = time.monotonic(), time.process_time()

        def on_step_end(self, args, state, control, **kw):
            Clock.t1, Clock.c1 = time.monotonic(), time.process_time()

    args = SFTConfig(output_dir=str(out), max_steps=steps, per_device_train_batch_size=batch, learning_rate=2e-4,
                     lr_scheduler_type="linear", logging_steps=1, save_strategy="no", report_to="none", use_cpu=True,
                     # the studio's CPU settings, where trl's defaults differ: bf16 autocast (~4x slower on this
                     # CPU) and activation checkpointing (~30% slower); the studio turns both off on CPU
                     bf16=False, activation_checkpointing=False,
                     max_length=128, assistant_only_loss=True, disable_tqdm=True, seed=42)
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tok, callbacks=[Clock()])
    trainer.train()
    return steps * batch / (Clock.t1 - Clock.t0), steps * batch / (Clock.c1 - Clock.c0)


def studio_job(model_dir: Path, train: list[dict], home: Path, steps: int, batch: int) -> float:
    from studio.core import open_studio
    from studio.datasets.rows import append_rows
    from studio.training import TrainingService

    st = open_studio(home, ensure_default_model=False)
    try:
        st.registry.import_path(model_dir, name="bench")
        append_rows(st.db, "bench", "sft", train)
        svc = TrainingService(st)
        plan = svc.plan("sft", base="bench", dataset="bench", template="gemma", overrides={
            "max_steps": steps, "batch_size": batch, "learning_rate": 2e-4, "lr_scheduler": "linear", "warmup_steps": 0,
            "lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.0, "max_length": 128, "save_steps": 0,
        })
        job_id = svc.launch(plan)
        st.jobs.try_become_runner()
        job = st.jobs.wait(job_id, timeout=3600)
        if job.state != "succeeded":
            raise SystemExit(f"studio job {job_id} {job.state}: {job.error}")
        progress = [e for e in st.jobs.events(job_id, types=("progress",)) if "samples_per_s" in e]
        last = progress[-1]
        # same measure as the baseline: steps x batch over on_train_begin -> last step
        return last["step"] * batch / last["elapsed_s"], last["step"] * batch / last["cpu_s"]
    finally:
        st.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2, help="alternate the two paths this many times; report the medians")
    a = ap.parse_args()
    from tests.helpers.tiny_model import make_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = make_tiny_model(tmp / "model", hidden_size=a.hidden, layers=a.layers)
        data = rows(400)
        train_file = tmp / "train.jsonl"
        train_file.write_text("".join(json.dumps(r) + "\n" for r in data))
        plain, studio = [], []
        for r in range(a.rounds):
            plain.append(plain_trl(model_dir, train_file, tmp / f"plain{r}", a.steps, a.batch))
            studio.append(studio_job(model_dir, data, tmp / f"home{r}", a.steps, a.batch))
        med = lambda xs: sorted(xs)[len(xs) // 2]  # noqa: E731
        p_wall, s_wall = med([x[0] for x in plain]), med([x[0] for x in studio])
        p_cpu, s_cpu = med([x[1] for x in plain]), med([x[1] for x in studio])
        print(json.dumps({
            "model": f"llama-shaped, hidden {a.hidden}, {a.layers} layers (random weights)",
            "steps": a.steps, "batch": a.batch, "load_average": os.getloadavg()[0],
            "plain_trl_samples_per_cpu_s": round(p_cpu, 2), "studio_job_samples_per_cpu_s": round(s_cpu, 2),
            "ratio_studio_over_plain_cpu": round(s_cpu / p_cpu, 3),
            "plain_trl_samples_per_s": round(p_wall, 2), "studio_job_samples_per_s": round(s_wall, 2),
            "ratio_studio_over_plain_wall": round(s_wall / p_wall, 3),
            "rounds_wall": {"plain": [round(x[0], 2) for x in plain], "studio": [round(x[0], 2) for x in studio]},
            "rounds_cpu": {"plain": [round(x[1], 2) for x in plain], "studio": [round(x[1], 2) for x in studio]},
        }, indent=2))


if __name__ == "__main__":
    main()

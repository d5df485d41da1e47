"""Real faults with the real trainer: kill -9 of the app or of the job child mid-SFT, a disk that
fills up while checkpointing, a truncated GGUF in the chat, and a chat turn during training.

Every job here is a LoRA SFT job on a tiny random model (hidden 64, 2 layers) run by the real
job runner in a child process; the database is the real SQLite file of the data home.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from studio.core import open_studio
from studio.datasets.rows import append_rows
from studio.training import TrainingService
from tests.helpers.polling import until
from tests.core.test_training import adds, tiny_dir  # noqa: F401 - tiny_dir is a fixture

ROOT = Path(__file__).resolve().parents[2]
PLANNED_STEPS = 60
PEAK_LR = 5e-3
WARMUP = 4
SFT = {  # linear decay after a short warm-up: a restarted schedule would be easy to see
    "learning_rate": PEAK_LR, "lr_scheduler": "linear", "warmup_steps": WARMUP, "max_steps": PLANNED_STEPS,
    "save_steps": 5, "keep_checkpoints": 2, "lora_dropout": 0.0, "max_length": 64, "batch_size": 4, "lora_r": 8,
}

RUNNER_SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {root!r})
    from studio.core import open_studio
    st = open_studio({home!r}, ensure_default_model=False)
    assert st.jobs.try_become_runner()
    print("ready", flush=True)
    time.sleep(600)
    """
)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _integrity(st) -> str:
    with st.db.engine.connect() as c:
        return c.exec_driver_sql("PRAGMA integrity_check").scalar()


def _planned_lr(steps: int) -> dict[int, float]:
    """The learning rate each optimizer step of an uninterrupted run uses (the trainer logs it
    with that step): warm-up from 0, then a linear decay to 0."""
    import torch
    from transformers import get_scheduler

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=PEAK_LR)
    sched = get_scheduler("linear", opt, num_warmup_steps=WARMUP, num_training_steps=steps)
    out = {}
    for step in range(1, steps + 1):
        out[step] = sched.get_last_lr()[0]
        opt.step()
        sched.step()
    return out


def _launch_sft(st, tiny_dir: Path, **overrides) -> int:
    st.registry.import_path(tiny_dir, name="tiny")
    append_rows(st.db, "adds", "sft", adds(24))
    svc = TrainingService(st)
    return svc.launch(svc.plan("sft", base="tiny", dataset="adds", overrides={**SFT, **overrides}))


def _start_runner(home: Path) -> subprocess.Popen:
    app = subprocess.Popen(
        [sys.executable, "-c", RUNNER_SCRIPT.format(root=str(ROOT), home=str(home))], stdout=subprocess.PIPE, text=True
    )
    assert app.stdout.readline().strip() == "ready"
    return app


@pytest.mark.slow
@pytest.mark.parametrize("victim", ["app", "job child"])
def test_kill_9_mid_sft_then_resume_finishes_the_planned_run_on_the_same_schedule(tmp_path, tiny_dir, victim):
    """kill -9 of the process that runs the queue (the app) or of the job child, mid-training:
    the database stays sound, the next start shows the job interrupted, and Resume trains up to
    the planned step count with the learning rate of an uninterrupted run; the adapter loads."""
    home = tmp_path / "home"
    st = open_studio(home, ensure_default_model=False)
    app = None
    try:
        job_id = _launch_sft(st, tiny_dir)
        app = _start_runner(home)
        until(lambda: st.jobs.get(job_id).step >= 12 or st.jobs.get(job_id).state != "running" and st.jobs.get(job_id).step, timeout=240)
        job = st.jobs.get(job_id)
        assert job.state == "running" and job.step < PLANNED_STEPS - 10, (job.state, job.step, job.error)
        child = job.pid
        if victim == "app":
            app.kill()  # SIGKILL: no cleanup in the app at all
            app.wait()
            until(lambda: _gone(child), timeout=60)  # the orphan checkpoints and stops by itself
        else:
            os.kill(child, signal.SIGKILL)
            until(lambda: st.jobs.get(job_id).state != "running", timeout=60)  # seen by the live runner
            app.kill()
            app.wait()
        assert _integrity(st) == "ok"
        # the next start of the app
        assert st.jobs.try_become_runner()
        job = st.jobs.get(job_id)
        assert job.state == "interrupted", (job.state, job.error)
        checkpoints = sorted(int(p.name.split("-")[1]) for p in (home / "jobs" / str(job_id) / "checkpoints").glob("checkpoint-*"))
        assert checkpoints, "no checkpoint survived the kill"
        resumed_from = checkpoints[-1]
        seq = max(e["seq"] for e in st.jobs.events(job_id))

        st.jobs.resume(job_id)
        job = st.jobs.wait(job_id, timeout=600)
        assert job.state == "succeeded", (job.error, job.hint)
        assert _integrity(st) == "ok"
        assert job.result["steps"] == job.result["total_steps"] == PLANNED_STEPS
        after = st.jobs.events(job_id, after_seq=seq)
        assert any(f"resuming from checkpoint-{resumed_from}" in e.get("message", "") for e in after if e["type"] == "log")
        resumed_steps = [e["step"] for e in after if e["type"] == "progress" and "loss" in e]
        assert resumed_steps == list(range(resumed_from + 1, PLANNED_STEPS + 1))
        planned = _planned_lr(PLANNED_STEPS)
        logged = [(e["step"], e["learning_rate"]) for e in st.jobs.events(job_id, types=("progress",)) if "learning_rate" in e]
        assert {s for s, _ in logged} >= set(range(resumed_from + 1, PLANNED_STEPS + 1))
        for step, lr in logged:  # before the kill and after Resume: one schedule
            assert lr == pytest.approx(planned[step], rel=1e-5, abs=1e-12), (step, lr, planned[step])

        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        adapter = Path(job.result["adapter_dir"])
        tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_dir), adapter)
        lora_b = [p for n, p in tuned.named_parameters() if "lora_B" in n]
        assert lora_b and all(p.abs().sum() > 0 for p in lora_b)
        with torch.no_grad():
            assert torch.isfinite(tuned(torch.tensor([[1, 2, 3]])).logits).all()
    finally:
        if app is not None and app.poll() is None:
            app.kill()
        st.close()


def _mount_tmpfs(path: Path, size: int) -> bool:
    if os.geteuid() != 0:
        return False
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True).returncode == 0


def _mount_point(path: Path) -> Path:
    while not os.path.ismount(path):
        path = path.parent
    return path


def _tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# Where no small disk can be mounted (not root), the job child gets this sitecustomize: from the
# third checkpoint on, the adapter's safetensors write fails exactly as it does on a full disk.
DISK_FULL_HOOK = textwrap.dedent(
    """
    import re
    import safetensors.torch
    from safetensors import SafetensorError

    _save_file = safetensors.torch.save_file

    def save_file(tensors, filename, metadata=None):
        m = re.search(r"[.]staging/checkpoint-([0-9]+)/", str(filename))
        if m and int(m.group(1)) > 20:
            raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
        return _save_file(tensors, filename, metadata)

    safetensors.torch.save_file = save_file
    """
)


@pytest.mark.slow
def test_disk_full_while_checkpointing_fails_cleanly_naming_the_disk_and_keeps_earlier_checkpoints(tmp_path, tiny_dir, monkeypatch):
    """The job folder sits on a small tmpfs (a real full disk): once the first checkpoint is
    written the tmpfs is shrunk so that one more checkpoint fits and the one after does not."""
    home = tmp_path / "home"
    st = open_studio(home, ensure_default_model=False)
    job_id = _launch_sft(st, tiny_dir, max_steps=200, save_steps=10)
    job_dir = home / "jobs" / str(job_id)
    real_disk = _mount_tmpfs(job_dir, 64 << 20)
    if not real_disk:
        hook = tmp_path / "hook"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(DISK_FULL_HOOK)
        monkeypatch.setenv("PYTHONPATH", str(hook))
    try:
        assert st.jobs.try_become_runner()
        ckpts = job_dir / "checkpoints"
        if real_disk:
            until(lambda: st.jobs.get(job_id).state not in ("queued", "running") or next(iter(ckpts.glob("checkpoint-*")), None), timeout=600)
            first = next(iter(ckpts.glob("checkpoint-*")), None)
            assert first is not None, (st.jobs.get(job_id).state, st.jobs.get(job_id).error)
            size = _tree_size(first)
            used = _tree_size(job_dir)
            subprocess.run(["mount", "-o", f"remount,size={used + int(size * 1.6)}", str(job_dir)], check=True)
        job = st.jobs.wait(job_id, timeout=600)  # a shared 2-core machine can take minutes for 30 steps
        assert job.state == "failed", (job.state, job.message)
        assert "disk" in job.error and "full" in job.error, job.error
        assert f"{_mount_point(job_dir)} (" in job.error, job.error  # the disk, named by where it is mounted
        assert "Resume" in (job.hint or "")
        kept = sorted(ckpts.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
        assert [p.name for p in kept] == ["checkpoint-10", "checkpoint-20"], kept
        for ck in kept:  # whole, not half-written: the trainer could resume from either
            state = json.loads((ck / "trainer_state.json").read_text())
            assert state["global_step"] == int(ck.name.split("-")[1])
            import torch
            from safetensors.torch import load_file

            assert load_file(ck / "adapter_model.safetensors")
            assert torch.load(ck / "optimizer.pt", weights_only=True)["state"]
        assert not list((ckpts / ".staging").glob("checkpoint-*")), "the half-written checkpoint still fills the disk"
        assert _integrity(st) == "ok"
    finally:
        st.jobs.shutdown()
        st.close()
        if real_disk:
            subprocess.run(["umount", "-l", str(job_dir)], capture_output=True)


FAST_CHAT = {"max_tokens_fast": 3, "max_tokens_reasoning": 3, "think_budget": 4, "temperature": 0.0}


@pytest.mark.slow
def test_a_truncated_gguf_gets_a_clear_error_and_the_host_serves_the_good_model_next(studio_with_model, gemma_gguf, tmp_path):
    from studio.chat import ChatService
    from studio.errors import StudioError

    st = studio_with_model
    broken = tmp_path / "half-copied.gguf"  # a copy that stopped half way: the header is whole, the weights are not
    with open(gemma_gguf, "rb") as src, open(broken, "wb") as dst:
        dst.write(src.read(os.path.getsize(gemma_gguf) // 2))
    st.registry.import_path(broken, name="half copied")
    chat = ChatService(st)
    try:
        good = chat.create_conversation(settings=FAST_CHAT)
        assert chat.send(good["id"], "Name a colour.")["meta"]["stats"]["visible_tokens"] > 0
        host_pid = chat._backends["chat"].pid
        bad = chat.create_conversation(settings={**FAST_CHAT, "models": {"fast": {"model": "half copied"}}})
        with pytest.raises(StudioError) as e:
            chat.send(bad["id"], "Hi")
        said = f"{e.value.message} {e.value.hint}"
        assert "half-copied.gguf" in said and ("truncated" in said or "corrupt" in said), said
        assert chat._backends["chat"].pid == host_pid  # the host did not crash on it
        again = chat.send(good["id"], "Another one?")
        assert again["meta"]["stats"]["visible_tokens"] > 0 and again["meta"]["model"] == "gemma-3-270m (base)"
    finally:
        chat.close()
    out = subprocess.run(
        [sys.executable, "-m", "studio", "chat", "Hi", "--model", "half copied", "--max-tokens", "2", "--json",
         "--home", str(st.home.root)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert out.returncode == 2, out.stderr
    assert "half-copied.gguf" in out.stderr and "Traceback" not in out.stderr, out.stderr


@pytest.mark.slow
def test_a_chat_turn_while_an_sft_job_trains_both_finish(studio_with_model, tiny_dir):
    from studio.chat import ChatService

    st = studio_with_model
    job_id = _launch_sft(st, tiny_dir, max_steps=PLANNED_STEPS)
    assert st.jobs.try_become_runner()
    until(lambda: st.jobs.get(job_id).step >= 2, timeout=240)
    chat = ChatService(st)
    try:
        conv = chat.create_conversation(settings=FAST_CHAT)
        t0 = time.time()
        msg = chat.send(conv["id"], "Name a colour.")
        t1 = time.time()
    finally:
        chat.close()
    assert msg["meta"]["stats"]["visible_tokens"] > 0
    job = st.jobs.wait(job_id, timeout=300)
    assert job.state == "succeeded", (job.error, job.hint)
    assert job.result["steps"] == PLANNED_STEPS
    prog = [e["ts"] for e in st.jobs.events(job_id, types=("progress",))]
    # the turn ran while the job trained: steps before it began and after it ended (a step may not
    # fall inside a short turn: llama.cpp takes both cores while it decodes, the niced trainer waits)
    assert prog[0] < t0 and prog[-1] > t1, f"the chat turn did not overlap the training: turn {t0:.2f}..{t1:.2f}, steps {prog[0]:.2f}..{prog[-1]:.2f}"

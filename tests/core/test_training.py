"""The training service end to end: plan -> job child -> adapter registered with its lineage;
cancel and resume through the real job runner; the CLI; config export for accelerate and trl."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from studio.datasets.rows import append_rows
from studio.errors import UserError
from studio.training import METHODS, TrainingService, parse_overrides, register_method

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    from tests.helpers.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "llama")


def adds(n: int) -> list[dict]:
    return [
        {"messages": [{"role": "user", "content": f"add {i} and {i + 1}"}, {"role": "assistant", "content": f"ANSWER: {2 * i + 1}"}]}
        for i in range(n)
    ]


@pytest.fixture
def st(studio, tiny_dir):
    studio.registry.import_path(tiny_dir, name="tiny")
    append_rows(studio.db, "adds", "sft", adds(24))
    append_rows(studio.db, "pairs", "preference", [{"prompt": "p", "chosen": "a", "rejected": "b"}])
    return studio


FAST = {"learning_rate": 5e-3, "lora_dropout": 0.0, "max_length": 64, "warmup_steps": 0}


def _wait_for_step(st, job_id: int, step: int, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j = st.jobs.get(job_id)
        if j.step >= step or j.state in ("failed", "succeeded"):
            return
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not reach step {step}")


def test_cancelled_job_resumes_from_its_checkpoint_with_the_same_schedule(st):
    svc = TrainingService(st)
    # 120 steps would take long; the cancel arrives long before the end
    plan = svc.plan("sft", base="tiny", dataset="adds", overrides={**FAST, "max_steps": 120, "save_steps": 4, "lr_scheduler": "linear"})
    job_id = svc.launch(plan)
    st.jobs.try_become_runner()
    _wait_for_step(st, job_id, 5)
    assert st.jobs.cancel(job_id) == "cancelling"
    job = st.jobs.wait(job_id, timeout=120)
    assert job.state == "cancelled", job.error
    checkpoints = [e for e in st.jobs.events(job_id, types=("checkpoint",))]
    stopped_at = checkpoints[-1]["step"]
    assert stopped_at >= 5 and Path(checkpoints[-1]["path"]).name == f"checkpoint-{stopped_at}"
    seq = max(e["seq"] for e in st.jobs.events(job_id))

    st.jobs.resume(job_id)
    _wait_for_step(st, job_id, stopped_at + 3)
    st.jobs.cancel(job_id)  # no need to run all 120 steps: the resumed part is what we check
    st.jobs.wait(job_id, timeout=120)
    after = st.jobs.events(job_id, after_seq=seq)
    assert any("resuming from checkpoint-" in e.get("message", "") for e in after if e["type"] == "log")
    steps = [e["step"] for e in after if e["type"] == "progress" and "loss" in e]
    assert steps[0] == stopped_at + 1  # continues, does not start over
    before_lr = {e["step"]: e["learning_rate"] for e in st.jobs.events(job_id, types=("progress",)) if "learning_rate" in e and e["seq"] <= seq}
    resumed_lr = {e["step"]: e["learning_rate"] for e in after if e["type"] == "progress" and "learning_rate" in e}
    # linear decay: the resumed steps continue the same line (scheduler state restored)
    slope = before_lr[2] - before_lr[3]
    assert resumed_lr[stopped_at + 1] == pytest.approx(before_lr[stopped_at] - slope, rel=1e-4)


def test_a_preference_dataset_is_refused_for_sft_with_a_hint(st):
    with pytest.raises(UserError) as e:
        TrainingService(st).plan("sft", base="tiny", dataset="pairs")
    assert "preference" in e.value.message and "DPO" in e.value.hint


def test_only_compatible_datasets_are_offered(st):
    offered = TrainingService(st).datasets_for("sft")
    assert [d["name"] for d in offered] == ["adds"]
    assert offered[0]["versions"][0]["rows"] == 24


def test_an_adapter_cannot_be_picked_as_the_base(st, tmp_path):
    from studio.db import Model

    st.registry.add(Model(name="some adapter", kind="adapter", format="peft", path=str(tmp_path)))
    with pytest.raises(UserError, match="not a base model"):
        TrainingService(st).plan("sft", base="some adapter", dataset="adds")


def test_set_overrides_are_typed_and_unknown_keys_named():
    cls = METHODS["sft"].config_cls
    assert parse_overrides(cls, ["lora_r=8", "packing=true", "learning_rate=1e-4"]) == {"lora_r": 8, "packing": True, "learning_rate": 1e-4}
    with pytest.raises(UserError, match="lora_rank"):
        parse_overrides(cls, ["lora_rank=8"])
    with pytest.raises(UserError, match="expected a int"):
        parse_overrides(cls, ["lora_r=big"])


def test_invalid_override_is_refused_before_a_job_exists(st):
    with pytest.raises(UserError, match="lora_dropout"):
        TrainingService(st).plan("sft", base="tiny", dataset="adds", overrides={"lora_dropout": 1.5})
    assert st.jobs.list() == []


def test_a_registered_method_gets_its_compatible_datasets(st):
    from dataclasses import dataclass

    @dataclass
    class ToyConfig:
        base_model_path: str = ""
        train_file: str = ""
        chat_template: str = "gemma"
        chat_template_text: str = ""
        lora_r: int = 4

    register_method("toy", "Toy", ("preference",), ToyConfig, presets={"quick": {"label": "Q", "description": "", "config": {"lora_r": 2}}})
    try:
        svc = TrainingService(st)
        assert [d["name"] for d in svc.datasets_for("toy")] == ["pairs"]
        plan = svc.plan("toy", base="tiny", dataset="pairs")
        assert plan["config"]["lora_r"] == 2
    finally:
        METHODS.pop("toy")


def test_estimate_warns_when_the_run_cannot_fit():
    from engines.training.memory import ModelShape, estimate

    shape = ModelShape.from_hf_config({"hidden_size": 640, "num_hidden_layers": 18, "intermediate_size": 2048, "vocab_size": 262144, "num_attention_heads": 4, "num_key_value_heads": 1}, 268_000_000)
    small = estimate(shape, device="cpu", free_bytes=16 * 2**30, batch_size=4, max_length=128, mean_tokens=100, rows=400, max_steps=40)
    big = estimate(shape, device="cpu", free_bytes=16 * 2**30, batch_size=64, max_length=4096, mean_tokens=4000, rows=400, max_steps=40)
    assert small.fits and not small.warning
    assert not big.fits and "lower the batch size" in big.warning
    ckpt = estimate(shape, device="cpu", free_bytes=16 * 2**30, batch_size=64, max_length=4096, mean_tokens=4000, gradient_checkpointing=True)
    assert ckpt.activation_bytes < big.activation_bytes
    # calibrated on this machine kind: ~2.7 s per step at batch 4, length 128
    assert 40 * 1.0 < small.seconds < 40 * 8.0


def test_cli_train_sft_waits_and_registers_the_adapter_with_lineage(st):
    """`studio train sft ... --wait`: job child -> adapter in the registry with its lineage and
    the exact inference form of the template it was trained with."""
    from engines.templates import get_template
    from studio.cli import main

    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(["train", "sft", "--home", str(st.home.root), "--base", "tiny", "--dataset", "adds", "--template", "gemma",
                     "--steps", "5", "--set", "learning_rate=0.005", "--set", "max_length=64", "--set", "lora_dropout=0",
                     "--wait", "--json"])
    out = json.loads(buf.getvalue().strip().splitlines()[-1])
    assert code == 0 and out["state"] == "succeeded", out
    job_id = out["id"]
    assert out["adapter"] == f"tiny · sft · job {job_id}" and Path(out["adapter_dir"]).is_dir()
    assert out["metrics"]["steps"] == 5 and out["metrics"]["last_loss"] < out["metrics"]["first_loss"]

    adapter = st.registry.get(out["adapter"])
    job = st.jobs.get(job_id)
    assert adapter.kind == "adapter" and adapter.format == "peft"
    assert adapter.parent_id == st.registry.get("tiny").id and adapter.job_id == job_id
    assert adapter.dataset_version_id == job.dataset_version_id is not None
    assert adapter.chat_template == get_template("gemma").inference  # exactly what inference must use
    assert adapter.meta["method"] == "sft" and adapter.meta["chat_template_name"] == "gemma"
    assert Path(adapter.path).is_relative_to(st.home.models)
    assert job.result["adapter_dir"] == adapter.path and job.result["model_id"] == adapter.id
    assert len([e for e in st.jobs.events(job_id, types=("progress",)) if "loss" in e]) == 5

    # `--adapter`: a second SFT stage keeps training that adapter (it was silently ignored before)
    buf = io.StringIO()
    with redirect_stdout(buf):
        code = main(["train", "sft", "--home", str(st.home.root), "--base", "tiny", "--dataset", "adds", "--template", "gemma",
                     "--adapter", out["adapter"], "--steps", "2", "--set", "learning_rate=0.005", "--set", "max_length=64",
                     "--set", "lora_dropout=0", "--set", "lora_r=4", "--set", "lora_alpha=4", "--wait", "--json"])
    second = json.loads(buf.getvalue().strip().splitlines()[-1])
    assert code == 0 and second["state"] == "succeeded", second
    assert st.registry.get(second["adapter"]).meta["config"]["adapter_path"] == adapter.path
    # the continued adapter keeps its own LoRA shape, and the job's config (the lineage) says so
    shape = json.loads((Path(adapter.path) / "adapter_config.json").read_text())
    for cfg in (st.jobs.get(second["id"]).config, st.registry.get(second["adapter"]).meta["config"]):
        assert (cfg["lora_r"], cfg["lora_alpha"]) == (shape["r"], shape["lora_alpha"]) != (4, 4)
        assert cfg["target_modules"].split(",") == sorted(shape["target_modules"])
    assert json.loads((Path(second["adapter_dir"]) / "adapter_config.json").read_text())["r"] == shape["r"]
    assert second["metrics"]["first_loss"] < out["metrics"]["first_loss"] - 0.3  # it starts where the first ended
    with pytest.raises(UserError, match="not a LoRA adapter the studio trained"):
        TrainingService(st).launch(TrainingService(st).plan("sft", base="tiny", dataset="adds", adapter="tiny"))


def test_cli_refuses_a_wrong_kind_with_exit_2(st, capsys):
    from studio.cli import main

    code = main(["train", "sft", "--home", str(st.home.root), "--base", "tiny", "--dataset", "pairs", "--json"])
    assert code == 2 and "preference" in capsys.readouterr().err


def test_trl_export_refuses_a_job_that_continues_an_adapter(st):
    svc = TrainingService(st)
    job_id = st.jobs.submit("sft", {**svc.plan("sft", base="tiny", dataset="adds")["config"], "base_model_path": "/m",
                                    "train_file": "/d/train.jsonl", "adapter_path": "/a/adapter"})
    with pytest.raises(UserError, match="continues an adapter"):
        svc.export_config(job_id, "trl")
    assert "adapter_path: /a/adapter" in svc.export_config(job_id, "studio")


def test_trl_export_is_a_config_trls_own_parser_accepts(st):
    from trl import ModelConfig, ScriptArguments, SFTConfig, TrlParser
    from trl.scripts.utils import DatasetMixtureConfig

    svc = TrainingService(st)
    job_id = st.jobs.submit("sft", {**svc.plan("sft", base="tiny", dataset="adds")["config"], "base_model_path": "/m", "train_file": "/d/train.jsonl"})
    st.jobs.cancel(job_id)
    path = st.home.root / "job.trl.yaml"
    path.write_text(svc.export_config(job_id, "trl"))
    parser = TrlParser((ScriptArguments, SFTConfig, ModelConfig, DatasetMixtureConfig))
    script, sft, model, mixture = parser.parse_args_and_config(["--config", str(path)])
    assert model.model_name_or_path == "/m" and model.use_peft and model.lora_r == 8
    assert sft.assistant_only_loss and Path(sft.chat_template_path).read_text().startswith("{{ bos_token }}")
    assert mixture.datasets[0].data_files == "/d/train.jsonl"


@pytest.mark.slow
def test_exported_config_trains_data_parallel_with_accelerate_launch_on_two_cpu_processes(st, tmp_path):
    import yaml

    svc = TrainingService(st)
    plan = svc.plan("sft", base="tiny", dataset="adds", overrides={**FAST, "max_steps": 3, "batch_size": 2, "save_steps": 0})
    config = {**plan["config"], **svc.write_data(plan), **svc.resolve_base(plan)}
    job_id = st.jobs.submit("sft", config)
    st.jobs.cancel(job_id)  # only its config is used here
    text = svc.export_config(job_id, "studio")
    cfg = yaml.safe_load(text)
    cfg["output_dir"], cfg["checkpoint_dir"] = str(tmp_path / "adapter"), str(tmp_path / "ck")
    path = tmp_path / "sft.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "engines.training.sft", str(path)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    done = next(e for e in events if e["type"] == "done")["result"]
    assert done["steps"] == 3
    assert _world_size_logged(events) == 2  # two data-parallel processes, one report (rank 0)
    assert sum(e["type"] == "done" for e in events) == 1
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()


def _world_size_logged(events) -> int:
    for e in events:
        if e.get("type") == "log" and "world" in e.get("message", ""):
            return int(e["message"].split("world ")[1].split()[0])
    return 0

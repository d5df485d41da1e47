"""The `studio` command line contract: --json output and exit codes 0 / 2 / 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engines.run_job import EXTRA_JOB_KINDS_ENV

ROOT = Path(__file__).resolve().parents[2]


def studio_cli(*args, home, check=True):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    p = subprocess.run(
        [sys.executable, "-m", "studio", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    if check:
        assert p.returncode == 0, p.stderr
    return p


@pytest.fixture
def home(tmp_path, gemma_gguf):
    h = tmp_path / "home"
    (h / "models").mkdir(parents=True)
    os.link(gemma_gguf, h / "models" / "gemma-3-270m-q4_k_m.gguf")
    return h


def test_info_json(home):
    out = json.loads(studio_cli("info", "--json", home=home).stdout)
    assert out["home"] == str(home)
    assert out["db"] == str(home / "studio.db")
    assert out["schema_version"]
    assert out["device"]["kind"] in ("cpu", "cuda")
    # the packaged base and the starter assistant trained from it (studio/starter/)
    assert [m["name"] for m in out["models"]] == ["gemma-3-270m (base)", "gemma-3-270m starter assistant"]


def test_models_list_and_import_json(home, gemma_gguf, tmp_path):
    out = json.loads(studio_cli("models", "list", "--json", home=home).stdout)
    assert out["models"][0]["chat_template"] == "missing"
    imported = json.loads(studio_cli("models", "import", str(gemma_gguf), "--name", "copy", "--json", home=home).stdout)
    assert imported["name"] == "copy" and imported["architecture"] == "gemma3"
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00")
    p = studio_cli("models", "import", str(bad), "--json", home=home, check=False)
    assert p.returncode == 2
    assert str(bad) in p.stderr and len(p.stderr.strip().splitlines()) == 1
    assert p.stdout == ""


def test_jobs_submit_wait_show_and_errors(home):
    out = json.loads(studio_cli("jobs", "submit", "dummy", "--config", '{"steps": 3}', "--wait", "--json", home=home).stdout)
    assert out["state"] == "succeeded" and out["step"] == 3
    shown = json.loads(studio_cli("jobs", "show", str(out["id"]), "--json", home=home).stdout)
    assert shown["events"][-1]["type"] == "done"
    listed = json.loads(studio_cli("jobs", "list", "--json", home=home).stdout)
    assert [j["id"] for j in listed["jobs"]] == [out["id"]]
    missing = studio_cli("jobs", "show", "999", "--json", home=home, check=False)
    assert missing.returncode == 2 and "No job with id 999" in missing.stderr
    bad = studio_cli("jobs", "submit", "dummy", "--config", "{nope", home=home, check=False)
    assert bad.returncode == 2 and "not valid JSON" in bad.stderr
    done = studio_cli("jobs", "cancel", str(out["id"]), home=home, check=False)
    assert done.returncode == 2 and "succeeded already" in done.stderr


def test_a_user_cannot_submit_the_tests_dummy_job(home, monkeypatch):
    monkeypatch.delenv(EXTRA_JOB_KINDS_ENV)  # as in a user's shell: only tests/conftest.py sets it
    p = studio_cli("jobs", "submit", "dummy", "--config", '{"steps": 3}', "--wait", "--json", home=home, check=False)
    assert p.returncode == 2 and p.stdout == ""
    assert "There is no job kind 'dummy' (the kinds are dpo, export, grpo, reward, sft)" in p.stderr


def test_jobs_submit_without_wait_runs_in_a_background_worker(home):
    out = json.loads(studio_cli("jobs", "submit", "dummy", "--config", '{"steps": 2}', "--json", home=home).stdout)
    assert out["state"] == "queued"
    waited = json.loads(studio_cli("jobs", "wait", str(out["id"]), "--timeout", "120", "--json", home=home).stdout)
    assert waited["state"] == "succeeded"


def test_a_failed_job_makes_wait_exit_nonzero(home):
    p = studio_cli("jobs", "submit", "dummy", "--config", '{"steps": 3, "fail_at_step": 2}', "--wait", "--json", home=home, check=False)
    assert p.returncode == 1
    assert json.loads(p.stdout)["error"] == "RuntimeError: dummy failure at step 2"


def test_corrupt_database_exits_2_with_the_path(tmp_path):
    home = tmp_path / "h"
    home.mkdir()
    (home / "studio.db").write_bytes(b"garbage" * 10)
    p = studio_cli("info", "--json", home=home, check=False)
    assert p.returncode == 2
    assert str(home / "studio.db") in p.stderr and "Traceback" not in p.stderr


def test_gui_smoke_opens_the_window_and_reports_startup(home):
    p = studio_cli("gui", "--smoke", home=home)
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["startup_s"] > 0


def test_nothing_is_written_outside_the_home(home, tmp_path):
    """No stray caches in the working directory or the user's home folder."""
    cwd = tmp_path / "cwd"
    user_home = tmp_path / "user-home"
    cwd.mkdir()
    user_home.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(user_home)}
    for key in ("HF_HOME", "XDG_CACHE_HOME", "HF_DATASETS_CACHE"):
        env.pop(key, None)
    p = subprocess.run(
        [sys.executable, "-m", "studio", "--home", str(home), "info", "--json"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )
    assert p.returncode == 0, p.stderr
    assert list(cwd.iterdir()) == []
    assert list(user_home.iterdir()) == []

"""The python tool in reduced mode: it refuses with the reason unless the user opted in
(a Setting), and `studio tools sandbox-status --json` reports every layer and the opt-in."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.tools.service import tools_service

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def old_kernel(monkeypatch):
    """What a kernel without Landlock and seccomp gets: the sandbox's kernel layers off."""
    import engines.tools.sandbox as sandbox

    monkeypatch.setattr(sandbox, "SandboxLimits", functools.partial(sandbox.SandboxLimits, kernel_layers=False))


def test_python_tool_refuses_in_reduced_mode_and_says_why(studio, old_kernel):
    out = tools_service(studio).run("python", {"code": "print('RAN-' + 'IT')"})
    assert out["ok"] is False
    assert "refused to run" in out["error"] and "only the audit hook and rlimits would hold" in out["error"]
    assert "--allow-reduced on" in out["error"]  # what to do about it
    assert "RAN-IT" not in (out["result"] or {}).get("stdout", "")


def test_the_opt_in_setting_lets_it_run_and_the_result_says_reduced(studio, old_kernel):
    svc = tools_service(studio)
    assert svc.allow_reduced_sandbox() is False  # off until the user turns it on
    svc.set_allow_reduced_sandbox(True)
    out = svc.run("python", {"code": "print(6 * 7)"})
    assert out["ok"] and out["result"]["stdout"] == "42\n"
    assert out["result"]["layers"]["mode"] == "reduced"  # the tool card shows this in red
    svc.set_allow_reduced_sandbox(False)
    assert svc.run("python", {"code": "print(6 * 7)"})["ok"] is False


def test_cli_sandbox_status_reports_each_layer_and_the_opt_in(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}

    def cli(*args):
        p = subprocess.run([sys.executable, "-m", "studio", "--home", str(tmp_path / "home"), "tools", "sandbox-status",
                            *args, "--json"], capture_output=True, text=True, env=env, timeout=300)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    status = cli()
    assert set(status["layers"]) >= {"namespaces", "filesystem", "privileges", "rlimits", "landlock", "seccomp",
                                     "audit_hook"}
    assert status["mode"] in ("full", "reduced") and status["allow_reduced"] is False
    assert status["python_tool"] == ("runs" if status["mode"] == "full" else "refuses (reduced mode)")
    assert cli("--allow-reduced", "on")["allow_reduced"] is True
    assert cli()["allow_reduced"] is True  # stored in the home's settings
    assert cli("--allow-reduced", "off")["allow_reduced"] is False

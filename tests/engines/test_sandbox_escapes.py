"""The Python sandbox against hostile code: every escape attempt is contained, nothing
outside the sandbox is touched, and this (the app's) process keeps running.

Each attempt runs twice: with every layer, and with the audit hook off, to prove the kernel
layers (namespaces, rlimits, Landlock, seccomp) hold on their own where this kernel has them.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from engines.tools.sandbox import SandboxLimits, run_python

FAST = dict(wall_s=4.0, cpu_s=1, memory_mb=256)


@pytest.fixture
def outside(tmp_path):
    """A folder outside the sandbox holding a secret and a precious file, like the user's home."""
    home = tmp_path / "user-home"
    home.mkdir()
    (home / "secret.txt").write_text("TOP-SECRET-TOKEN")
    (home / "precious.txt").write_text("keep me")
    return home


def _snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _kernel_layers_on() -> bool:
    layers = run_python("pass")["layers"]
    return layers.get("landlock", "").startswith("on") and layers.get("seccomp") == "on"


ESCAPES = {
    "read_user_home": "print(open({secret!r}).read())",
    "list_user_home": "import os; print(os.listdir({home!r}))",
    "write_outside": "open({home!r} + '/pwned.txt', 'w').write('pwned')",
    "write_outside_os_open": "import os; fd = os.open({home!r} + '/pwned.txt', os.O_WRONLY | os.O_CREAT); os.write(fd, b'x')",
    "delete_outside": "import os; os.remove({precious!r})",
    "rename_outside": "import os; os.rename({precious!r}, {home!r} + '/moved.txt')",
    "rmtree_outside": "import shutil; shutil.rmtree({home!r})",
    "socket_connect": "import socket; s = socket.create_connection(('127.0.0.1', {port})); s.sendall(b'pwned')",
    "spawn_shell_system": "import os; rc = os.system('echo pwned > {home}/shell.txt'); assert rc == 0, rc",
    "spawn_shell_subprocess": "import subprocess; subprocess.run(['/bin/sh', '-c', 'echo pwned > {home}/sub.txt'], check=True)",
    "exec_replace_process": "import os; os.execv('/bin/sh', ['/bin/sh', '-c', 'echo pwned > {home}/exec.txt'])",
    "fork_bomb": "import os\nwhile True:\n    os.fork()",
    "ctypes_fork_and_system": (
        "import ctypes\nlibc = ctypes.CDLL(None)\n"
        "assert libc.fork() == -1 and libc.system(b'echo pwned > {home}/ctypes.txt') != 0\n"
        "fd = libc.open(b'{home}/ctypes2.txt', 65, 0o644)\nassert fd == -1, fd\nraise SystemExit('contained')"
    ),
    "kill_the_app": "import os, signal; os.kill({app_pid}, signal.SIGKILL)",
    "read_proc_of_the_app": "print(open('/proc/{app_pid}/environ').read())",
}


@pytest.fixture(scope="module")
def listener():
    """A real TCP server on 127.0.0.1 that records whether anybody connected."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(5)
    srv.settimeout(0.2)
    hits = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                hits.append(conn.recv(100))
                conn.close()
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1], hits
    stop.set()
    t.join()
    srv.close()


@pytest.mark.parametrize("audit_hook, kernel_layers", [(True, True), (False, True), (True, False)],
                         ids=["all_layers", "kernel_layers_only", "audit_hook_and_rlimits_only"])
@pytest.mark.parametrize("attempt", sorted(ESCAPES))
def test_escape_attempt_is_contained(attempt, audit_hook, kernel_layers, outside, listener):
    """The third variant is what a kernel without namespaces, Landlock and seccomp gets."""
    if not audit_hook and not _kernel_layers_on():
        pytest.skip("this kernel lacks Landlock or seccomp: only the audit hook stands here")
    port, hits = listener
    code = ESCAPES[attempt].format(home=str(outside), secret=str(outside / "secret.txt"),
                                   precious=str(outside / "precious.txt"), port=port, app_pid=os.getpid())
    before = _snapshot(outside)
    result = run_python(code, SandboxLimits(audit_hook=audit_hook, kernel_layers=kernel_layers, **FAST))
    assert result["ok"] is False, f"{attempt} was not stopped: {result}"
    assert result["error"]
    assert "TOP-SECRET-TOKEN" not in result["stdout"] + result["stderr"]
    assert "secret.txt" not in result["stdout"]
    assert _snapshot(outside) == before, "something outside the sandbox changed"
    assert hits == [], "the sandbox reached a socket on the host"


def test_infinite_loop_is_stopped_by_the_cpu_limit():
    result = run_python("while True:\n    pass", SandboxLimits(**FAST))
    assert result["ok"] is False
    assert "CPU time limit" in result["error"]


def test_blocking_code_is_stopped_by_the_wall_clock_limit():
    result = run_python("import time\ntime.sleep(60)", SandboxLimits(wall_s=1.0, cpu_s=1))
    assert result["ok"] is False
    assert "wall-clock" in result["error"]
    assert result["duration_s"] < 30  # killed, not waited for (a generous bound, not a benchmark)


@pytest.mark.parametrize("code", ["x = bytearray(8 * 1024**3)", "x = []\nwhile True:\n    x.append(' ' * 10**6)"],
                         ids=["one_big_allocation", "growing_list"])
def test_memory_bomb_hits_the_memory_limit(code):
    result = run_python(code, SandboxLimits(**FAST))
    assert result["ok"] is False
    assert "Memory limit of 256 MiB" in result["error"]


def test_print_bomb_is_cut_at_the_output_cap():
    result = run_python("while True:\n    print('x' * 1000)", SandboxLimits(output_bytes=10_000, **FAST))
    assert result["ok"] is False
    assert "Output exceeded 10000 bytes" in result["error"]
    assert len(result["stdout"]) <= 10_000


def test_sandbox_dir_is_private_and_deleted_afterwards():
    result = run_python("import os\nopen('note.txt', 'w').write('hi')\nprint(os.getcwd())\nprint(open('note.txt').read())")
    assert result["ok"], result
    workdir, text = result["stdout"].split()
    assert text == "hi"
    assert "studio-sandbox-" in workdir
    assert not Path(workdir).exists()


def test_environment_secrets_do_not_reach_the_code(monkeypatch):
    monkeypatch.setenv("STUDIO_API_KEY", "sk-should-not-leak")
    result = run_python("import os\nprint(sorted(os.environ))\nprint(os.environ.get('STUDIO_API_KEY'))")
    assert result["ok"]
    assert "sk-should-not-leak" not in result["stdout"]


def test_ordinary_code_runs_with_stdout_stderr_and_numpy():
    result = run_python("import sys, numpy as np\nprint(int(np.arange(5).sum()))\nprint('warn', file=sys.stderr)")
    assert result == {**result, "ok": True, "stdout": "10\n", "stderr": "warn\n", "error": None, "exit_code": 0}


def test_a_crash_in_the_code_is_a_structured_error_with_the_users_traceback():
    result = run_python("def f():\n    return 1 / 0\nf()")
    assert result["ok"] is False
    assert result["error"] == "ZeroDivisionError: division by zero"
    assert 'File "<sandbox>", line 2' in result["stderr"]
    assert "sandbox_child" not in result["stderr"]


def test_layers_report_what_held_on_this_machine():
    layers = run_python("pass")["layers"]
    assert set(layers) == {"network_namespace", "rlimits", "landlock", "seccomp", "audit_hook"}
    assert layers["rlimits"] == "on" and layers["audit_hook"] == "on"

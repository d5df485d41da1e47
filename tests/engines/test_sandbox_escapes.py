"""The Python sandbox against hostile code: every escape attempt is contained, nothing
outside the sandbox is touched, and this (the app's) process keeps running.

The attempts and the judging live in sandbox_attempts.py: each prints a per-run nonce marker
before its attack (TRIED) and only if it went through (ESCAPED), so "contained" is told apart
from "crashed". Each attempt runs with every layer, with the kernel layers alone (no audit
hook), and in reduced mode with the user's opt-in (audit hook and rlimits: what an old kernel
gets). The suite runs as this process's user (root in CI) and, when that is root, once more
as an unprivileged user made with useradd. Where this kernel supports a layer, the layer
must be on: a regression fails instead of skipping.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import pwd
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
from pathlib import Path

import pytest

import sandbox_attempts as A
from engines.tools.sandbox import SandboxLimits, run_python, sandbox_status

REPO = Path(__file__).resolve().parents[2]
TEST_USER = "studio-sandbox-test"
PWNED_IN_INSTALL = Path(sysconfig.get_paths()["purelib"]) / "studio_sandbox_pwned.py"


# ---- what this kernel supports, asked directly (not through the sandbox) ----------------------
def _landlock_abi() -> int:
    if platform.machine() not in ("x86_64", "aarch64"):
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    return max(0, libc.syscall(444, None, 0, 1))  # landlock_create_ruleset(NULL, 0, VERSION)


def _seccomp_supported() -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(21, 0, 0, 0, 0) >= 0  # PR_GET_SECCOMP


def _namespaces_supported() -> bool:
    flags = ["-m", "-n", "-p", "-f"] if os.geteuid() == 0 else ["-U", "-m", "-n", "-p", "-f"]
    return subprocess.run(["unshare", *flags, "true"], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def supported():
    return {"landlock": _landlock_abi(), "seccomp": _seccomp_supported(), "namespaces": _namespaces_supported()}


def _assert_layers_held(layers: dict, supported: dict, variant: str) -> None:
    """Every layer the kernel supports is on, for the variants that ask for the kernel layers."""
    assert layers.get("privileges", "").startswith("on"), layers
    assert layers["rlimits"] == "on", layers
    if variant == "reduced_mode_opted_in":
        assert layers["mode"] == "reduced" and layers["landlock"] == "off" and layers["seccomp"] == "off", layers
        return
    if os.geteuid() == 0 and supported["namespaces"]:
        assert "uid 0" not in layers["privileges"], layers  # root runs the code as a per-run unprivileged uid
    if supported["landlock"]:
        assert layers["landlock"].startswith(f"on (ABI {supported['landlock']}"), layers
    if supported["seccomp"]:
        assert layers["seccomp"].startswith("on"), layers
    if supported["namespaces"]:
        assert "pid" in layers["namespaces"] and "network" in layers["namespaces"], layers
        assert layers["filesystem"].startswith("private root"), layers
    assert layers["mode"] == ("full" if supported["landlock"] and supported["seccomp"] else "reduced"), layers


# ---- the world outside the sandbox -----------------------------------------------------------
@pytest.fixture(scope="module")
def outside():
    """A user's home with a secret, a precious file and a unix socket, plus a TCP server on
    127.0.0.1: all reachable by the unprivileged test user too, so only the sandbox stands."""
    base = Path(tempfile.mkdtemp(prefix="studio-sbx-outside-"))
    home, sock_dir = base / "user-home", base / "sockets"
    home.mkdir()
    sock_dir.mkdir()
    (home / "secret.txt").write_text("TOP-SECRET-TOKEN")
    (home / "precious.txt").write_text("keep me")
    for p in (base, home, sock_dir, *home.iterdir()):
        p.chmod(0o777 if p.is_dir() else 0o666)  # nothing but the sandbox keeps the test user out
    hits: list = []
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(sock_dir / "app.sock"))
    (sock_dir / "app.sock").chmod(0o777)
    stop = threading.Event()

    def accept(srv):
        srv.listen(5)
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                hits.append(conn.recv(100))
                conn.close()
            except OSError:
                pass

    threads = [threading.Thread(target=accept, args=(s,), daemon=True) for s in (tcp, unix)]
    for t in threads:
        t.start()
    yield {"home": str(home), "secret": str(home / "secret.txt"), "precious": str(home / "precious.txt"),
           "port": tcp.getsockname()[1], "unix_sock": str(sock_dir / "app.sock"), "hits": hits}
    stop.set()
    for t in threads:
        t.join()
    tcp.close()
    unix.close()
    subprocess.run(["rm", "-rf", str(base)], check=False)


def _snapshot(home: str) -> dict:
    return {p.name: p.read_bytes() for p in sorted(Path(home).iterdir())}


def _judge(attempt: str, variant: str, result: dict, before: dict, outside: dict, supported: dict, nonce: str):
    found = A.problems(result, nonce)
    if _snapshot(outside["home"]) != before:
        found.append(f"the user's home changed: {sorted(_snapshot(outside['home']))}")
    if outside["hits"]:
        found.append(f"a socket on the host was reached: {outside['hits']}")
    if PWNED_IN_INSTALL.exists():
        PWNED_IN_INSTALL.unlink()
        found.append("a file was written into the Python installation")
    assert not found, f"{attempt} [{variant}] is not contained: {found}\n{result}"
    _assert_layers_held(result["layers"], supported, variant)


# ---- as this process's user (root in CI) -----------------------------------------------------
@pytest.mark.parametrize("attempt, variant", [(a, v) for v in sorted(A.VARIANTS) for a in A.attempts_for(v)])
def test_escape_attempt_is_contained(attempt, variant, outside, supported):
    where = {k: v for k, v in outside.items() if k != "hits"} | {"app_pid": os.getpid()}
    before = _snapshot(outside["home"])
    result = run_python(A.code_for(attempt, where), SandboxLimits(**A.VARIANTS[variant], **A.FAST))
    _judge(attempt, variant, result, before, outside, supported, A.NONCE)


# ---- as an unprivileged user ---------------------------------------------------------------
def _test_user() -> tuple[int, int]:
    try:
        pw = pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER],
                       check=True, capture_output=True)
        pw = pwd.getpwnam(TEST_USER)
    return pw.pw_uid, pw.pw_gid


@pytest.mark.skipif(os.geteuid() != 0, reason="this run is already unprivileged: the tests above are that half")
def test_escape_suite_as_an_unprivileged_user(outside, supported):
    """The same attempts, run by a normal user (useradd) whose app process is the target."""
    uid, gid = _test_user()
    where = {k: v for k, v in outside.items() if k != "hits"}
    spec = {"uid": uid, "gid": gid, "repo": str(REPO), "where": where,
            "variants": sorted(A.VARIANTS)}
    before = _snapshot(outside["home"])
    proc = subprocess.run([sys.executable, str(Path(A.__file__)), json.dumps(spec)], capture_output=True, text=True,
                          timeout=600, env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, f"the unprivileged run failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}"
    report = json.loads(proc.stdout)
    assert len(report["runs"]) == sum(len(A.attempts_for(v)) for v in A.VARIANTS)
    for run in report["runs"]:
        assert run["uid"] == uid
        _judge(run["attempt"], run["variant"], run["result"], before, outside, supported, report["nonce"])
        # a normal user's sandbox: its own uid inside a user namespace, never root
        if supported["namespaces"] and run["variant"] != "reduced_mode_opted_in":
            assert "user" in run["result"]["layers"]["namespaces"], run["result"]["layers"]


# ---- reduced mode ----------------------------------------------------------------------------
def test_reduced_mode_refuses_to_run_without_the_opt_in():
    marker = "RAN-" + A.NONCE
    result = run_python(f"print({marker!r})", SandboxLimits(kernel_layers=False, **A.FAST))
    assert result["ok"] is False
    assert marker not in result["stdout"], "the code ran in reduced mode without the opt-in"
    assert "refused to run" in result["error"] and "Allow the reduced Python sandbox" in result["error"]
    assert "landlock off" in result["error"] and "seccomp off" in result["error"]
    assert result["layers"]["mode"] == "reduced"


def test_sandbox_status_reports_every_layer(supported):
    status = sandbox_status()
    assert set(status["layers"]) == {"namespaces", "filesystem", "privileges", "rlimits", "landlock", "seccomp",
                                     "audit_hook"}
    _assert_layers_held({**status["layers"], "mode": status["mode"]}, supported, "all_layers")
    reduced = sandbox_status(SandboxLimits(kernel_layers=False))
    assert reduced["mode"] == "reduced" and reduced["layers"]["landlock"] == "off"


# ---- limits and ordinary code ------------------------------------------------------------------
def test_infinite_loop_is_stopped_by_the_cpu_limit():
    # wall clock far above the CPU limit: on a loaded machine a CPU second takes many wall seconds
    result = run_python("while True:\n    pass", SandboxLimits(wall_s=120.0, cpu_s=1))
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
    result = run_python(code, SandboxLimits(**A.FAST))
    assert result["ok"] is False
    assert "Memory limit of 256 MiB" in result["error"]


def test_print_bomb_is_cut_at_the_output_cap():
    result = run_python("while True:\n    print('x' * 1000)", SandboxLimits(output_bytes=10_000, **A.FAST))
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


def test_ordinary_code_runs_with_stdout_stderr_threads_and_numpy():
    code = ("import sys, threading, numpy as np\nout = []\nts = [threading.Thread(target=out.append, args=(i,)) for i in range(4)]\n"
            "[t.start() for t in ts]; [t.join() for t in ts]\n"
            "print(int(np.arange(5).sum()), sorted(out))\nprint('warn', file=sys.stderr)")
    result = run_python(code)
    assert result == {**result, "ok": True, "stdout": "10 [0, 1, 2, 3]\n", "stderr": "warn\n", "error": None, "exit_code": 0}


def test_a_crash_in_the_code_is_a_structured_error_with_the_users_traceback_and_output():
    result = run_python("print('before')\ndef f():\n    return 1 / 0\nf()")
    assert result["ok"] is False
    assert result["error"] == "ZeroDivisionError: division by zero"
    assert result["stdout"] == "before\n"
    assert 'File "<sandbox>", line 3' in result["stderr"]
    assert "sandbox_child" not in result["stderr"]


def test_seccomp_program_denies_every_call_the_issue_names():
    """The filter itself, read as data: each named call is in the denylist for x86_64."""
    from engines.tools.sandbox_child import _DENIED, seccomp_program

    named = ["io_uring_setup", "io_uring_enter", "io_uring_register", "mknod", "mknodat", "ptrace", "process_vm_readv",
             "process_vm_writev", "tkill", "pidfd_send_signal", "reboot", "init_module", "finit_module", "delete_module",
             "kexec_load", "kexec_file_load", "iopl", "ioperm", "mount", "umount2", "pivot_root", "unshare", "setns",
             "bpf", "perf_event_open", "userfaultfd", "keyctl"]
    prog = seccomp_program("x86_64", 1)
    denied = {ins[3] for i, ins in enumerate(prog[:-1]) if ins[0] == 0x15 and prog[i + 1] == (0x06, 0, 0, 0x00050001)}
    assert all(_DENIED[n][0] in denied for n in named)
    assert (0x35, 0, 1, 0x40000000) in prog  # x32 numbers
    assert prog[:3] == [(0x20, 0, 0, 4), (0x15, 1, 0, 0xC000003E), (0x06, 0, 0, 0x80000000)]  # other ABIs: killed


@pytest.mark.skipif(platform.machine() != "x86_64" or not _seccomp_supported(), reason="x86_64 syscall numbers")
def test_seccomp_filter_alone_refuses_signals_out_of_the_group_and_the_named_calls():
    """Other layers mask the filter in the suite (the pid namespace hides the app's pid; on a
    kernel with Landlock ABI < 6 nothing else stops kill): here it is installed alone."""
    code = """
import ctypes, errno, os, json, sys
sys.path.insert(0, sys.argv[1])
from engines.tools import sandbox_child
assert sandbox_child._seccomp().startswith("on")
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(nr, *args):
    rc = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return 0 if rc >= 0 else errno.errorcode[ctypes.get_errno()]
print(json.dumps({
    "kill_parent": call(62, os.getppid(), 0), "kill_everyone": call(62, -1, 0),
    "kill_own_group": call(62, 0, 0), "kill_self": call(62, os.getpid(), 0),
    "kill_parent_high_bits_set": call(62, (1 << 32) | os.getppid(), 0),
    "tgkill_parent": call(234, os.getppid(), os.getppid(), 0), "tgkill_self": call(234, os.getpid(), os.getpid(), 0),
    "tkill": call(200, os.getppid(), 0), "io_uring_setup": call(425, 8, 0), "mknodat": call(259, -100, 0, 0, 0),
    "x32_getpid": call(0x40000000 + 39), "reboot": call(169, 0, 0, 0), "unshare": call(272, 0),
}))
"""
    out = subprocess.run([sys.executable, "-c", code, str(REPO)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    allowed = {"kill_own_group", "kill_self", "tgkill_self"}
    assert {k for k, v in got.items() if v == 0} == allowed, got
    assert all(v == "EPERM" for k, v in got.items() if k not in allowed), got

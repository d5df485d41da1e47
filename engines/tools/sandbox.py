"""The `python` tool: run model-written code in a locked-down child process.

Model-written code is hostile input. It runs in a separate interpreter (`python -I`,
started by `run_python`) that locks itself down in `sandbox_child.py` before the code runs.
What each layer stops, outermost first:

| layer | where | stops |
|---|---|---|
| separate process, own session | here | a crash, `os._exit`, a segfault, a hang reaching the app |
| wall-clock timeout, whole group killed | here | infinite loops that sleep or block (CPU limit does not see them) |
| output cap, read incrementally | here | print bombs filling the app's memory |
| private temp dir, deleted afterwards; minimal env | here | leftovers, leaked secrets from the app's environment |
| network namespace (`unshare`) | child | every socket: no interface but a down loopback |
| RLIMIT_CPU / RLIMIT_AS / RLIMIT_FSIZE / RLIMIT_NOFILE | child | busy loops, memory bombs, disk fillers, fd exhaustion |
| RLIMIT_NPROC=1 | child | fork bombs (not for root, whom the kernel exempts: seccomp covers it) |
| Landlock (Linux >= 5.13) | child | reading or writing any file outside the work dir (the Python install is read-only), execve of anything, TCP bind/connect, signalling processes outside the sandbox |
| seccomp filter | child | fork, vfork, process-creating clone, execve, socket, ptrace, even through ctypes |
| audit hook (`sys.addaudithook`) | child | subprocess, os.system/exec/fork/kill, socket imports, reads and writes outside the dir and the Python install, as a readable PermissionError; ctypes too when Landlock or seccomp is missing |

The audit hook alone is not a security boundary (ctypes or interpreter tricks could get
around it); the kernel layers are. When both Landlock and seccomp hold, ctypes is allowed
(numpy imports it) because the kernel refuses what ctypes could reach. The escape tests
(tests/engines/test_sandbox_escapes.py) run every attempt three ways: all layers; kernel
layers without the audit hook; and audit hook plus rlimits without namespace, Landlock and
seccomp (what an old kernel gets). A layer the kernel refuses (an old kernel, a container
that forbids namespaces) is skipped and reported in `layers`, so the result says what held.

    result = run_python("print(2**100)")
    result["ok"], result["stdout"]   # True, '1267650600228229401496703205376\\n'
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

CHILD = Path(__file__).with_name("sandbox_child.py")


@dataclass
class SandboxLimits:
    wall_s: float = field(default=10.0, metadata={"help": "wall-clock seconds before the process group is killed"})
    cpu_s: int = field(default=5, metadata={"help": "CPU seconds (RLIMIT_CPU)"})
    # Python itself maps ~30 MB; 512 MB leaves room for numpy while stopping a memory bomb early
    memory_mb: int = field(default=512, metadata={"help": "address-space limit in MiB (RLIMIT_AS)"})
    output_bytes: int = field(default=64_000, metadata={"help": "stdout+stderr bytes kept; more kills the run"})
    file_bytes: int = field(default=16_000_000, metadata={"help": "largest file the code may write (RLIMIT_FSIZE)"})
    audit_hook: bool = field(default=True, metadata={"help": "the in-process second line; off only to test the kernel layers"})
    kernel_layers: bool = field(default=True, metadata={"help": "namespace, Landlock, seccomp; off only to test the degraded path"})

    def __post_init__(self):
        if not (0 < self.wall_s <= 600 and 0 < self.cpu_s <= 600):
            raise ValueError("sandbox time limits must be between 0 and 600 seconds")
        if not (64 <= self.memory_mb <= 65536):
            raise ValueError("sandbox memory limit must be between 64 and 65536 MiB")
        if self.output_bytes < 1 or self.file_bytes < 1:
            raise ValueError("sandbox output and file caps must be positive")


def run_python(code: str, limits: SandboxLimits | None = None) -> dict:
    """Run `code` in the sandbox; returns {ok, stdout, stderr, error, duration_s, layers, exit_code}."""
    limits = limits or SandboxLimits()
    if not isinstance(code, str) or not code.strip():
        return _result(False, "", "", "No code to run: pass the Python source in the `code` argument", 0.0)
    workdir = Path(tempfile.mkdtemp(prefix="studio-sandbox-"))
    try:
        return _run_in(workdir, code, limits)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _result(ok, stdout, stderr, error, duration, layers=None, exit_code=None) -> dict:
    return {"ok": ok, "stdout": stdout, "stderr": stderr, "error": error, "duration_s": round(duration, 3),
            "layers": layers or {}, "exit_code": exit_code}


def _run_in(workdir: Path, code: str, limits: SandboxLimits) -> dict:
    (workdir / "main.py").write_text(code, encoding="utf-8")
    report_r, report_w = os.pipe()
    config = dict(asdict(limits), workdir=str(workdir), code_file="main.py", report_fd=report_w)
    env = {"HOME": str(workdir), "TMPDIR": str(workdir), "PATH": "", "LANG": "C.UTF-8",
           "PYTHONIOENCODING": "utf-8", "PYTHONDONTWRITEBYTECODE": "1", "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-B", str(CHILD), json.dumps(config)],
            cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(report_w,), start_new_session=True, close_fds=True,
        )
    finally:
        os.close(report_w)
    out, err, error = bytearray(), bytearray(), None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, out)
    sel.register(proc.stderr, selectors.EVENT_READ, err)
    deadline = start + limits.wall_s
    try:
        while sel.get_map():
            left = deadline - time.perf_counter()
            if left <= 0:
                error = f"Timed out after {limits.wall_s:g} s of wall-clock time; the process was killed"
                break
            for key, _ in sel.select(timeout=min(left, 0.5)):
                chunk = os.read(key.fileobj.fileno(), 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                key.data.extend(chunk)
            if len(out) + len(err) > limits.output_bytes:
                error = f"Output exceeded {limits.output_bytes} bytes; the process was killed"
                break
    finally:
        sel.close()
        _kill_group(proc)
        proc.stdout.close()
        proc.stderr.close()
    duration = time.perf_counter() - start
    with os.fdopen(report_r) as rep:
        try:
            layers = json.loads(rep.read() or "{}")
        except json.JSONDecodeError:
            layers = {}
    if layers:
        layers["audit_hook"] = "on" if limits.audit_hook else "off"
    rc = proc.returncode
    stdout = out[: limits.output_bytes].decode("utf-8", "replace")
    stderr = err[: max(0, limits.output_bytes - len(out))].decode("utf-8", "replace")
    if error is None and rc != 0:
        error = _describe_exit(rc, stderr, limits)
    return _result(error is None, stdout, stderr, error, duration, layers, rc)


def _kill_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def _describe_exit(rc: int, stderr: str, limits: SandboxLimits) -> str:
    if rc == -signal.SIGXCPU:
        return f"CPU time limit of {limits.cpu_s} s exceeded; the process was stopped"
    if rc == -signal.SIGXFSZ:
        return f"File size limit of {limits.file_bytes} bytes exceeded"
    if rc < 0:
        return f"The process was killed by signal {signal.Signals(-rc).name}"
    last = [line for line in stderr.strip().splitlines() if line.strip()]
    if last and "MemoryError" in last[-1]:
        return f"Memory limit of {limits.memory_mb} MiB exceeded (MemoryError)"
    return last[-1] if last else f"The code exited with status {rc}"

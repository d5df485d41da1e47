"""The `python` tool: run model-written code in a locked-down child process.

Model-written code is hostile input. It runs in a separate interpreter (`python -I`,
started by `run_python`) that locks itself down in `sandbox_child.py` before the code runs.
What each layer stops, outermost first (the README's security section says on which kernels):

| layer | where | stops |
|---|---|---|
| separate process, own session, whole group killed at the end | here | a crash, `os._exit`, a segfault, a hang, leftover processes reaching the app |
| wall-clock timeout | here | infinite loops that sleep or block (CPU limit does not see them) |
| output cap, read incrementally | here | print bombs filling the app's memory |
| private temp dir, deleted afterwards; minimal env | here | leftovers, leaked secrets from the app's environment |
| namespaces: mount, network, pid, ipc, uts (inside a user namespace when not root) | child | every socket (no interface but a down loopback), seeing or signalling the app's processes |
| private root: read-only tmpfs with read-only bind mounts of the Python install, chroot | child | seeing any host file but the Python install, the C libraries and the work dir; device nodes (nodev) |
| unprivileged per-run uid/gid for root; every capability dropped; no_new_privs | child | mknod, raw disk, reboot, modules, mounts: everything root could do |
| RLIMIT_CPU / AS / FSIZE / NOFILE / NPROC | child | busy loops, memory bombs, disk fillers, fd exhaustion, thread bombs |
| Landlock (ABI 1+: files and exec; 4+: TCP; 6+: signals, abstract unix sockets) | child | reading or writing any file outside the work dir (the Python install is read-only), execve |
| seccomp denylist | child | fork, exec, sockets, io_uring, mknod, ptrace, process_vm, kill outside its group, reboot, modules, kexec, mounts, unshare/setns, bpf, perf, userfaultfd, keys, x32 — even through ctypes |
| audit hook (`sys.addaudithook`) | child | subprocess, os.system/exec/fork/kill, socket imports, file access outside the dir as a readable PermissionError; ctypes too unless Landlock and seccomp hold |

The audit hook alone is not a security boundary (ctypes or interpreter tricks could get
around it); the kernel layers are. When Landlock or seccomp is missing (an old kernel, a
container that forbids them), only the hook would stand: that is *reduced mode*, and the
code is not run unless `SandboxLimits.allow_reduced` is set (the user's opt-in setting,
which the tool card then shows in red). `layers` in every result says what held, and
`sandbox_status()` reports it without running anything of the user's.

    result = run_python("print(2**100)")
    result["ok"], result["stdout"]   # True, '1267650600228229401496703205376\\n'
    run_tests("def add(a, b):\\n    return a + b", "assert add(2, 3) == 5")["passed"]   # True

`run_tests` is the GRPO code_tests reward's harness: a pass is a per-run nonce that the
child writes to a pipe only after the code and every assert ran; the exit status never counts.
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
    # the work dir is a tmpfs in the private root: RAM-backed, so keep it small
    disk_mb: int = field(default=64, metadata={"help": "size of the work dir in MiB (a disk filler stops here)"})
    disk_files: int = field(default=4096, metadata={"help": "files and folders the work dir can hold"})
    audit_hook: bool = field(default=True, metadata={"help": "the in-process second line; off only to test the kernel layers"})
    kernel_layers: bool = field(default=True, metadata={"help": "namespaces, private root, Landlock, seccomp; off only to test reduced mode"})
    # off by default: without Landlock and seccomp only the audit hook stands, which is no boundary
    allow_reduced: bool = field(default=False, metadata={"help": "run even when only the audit hook and rlimits would hold (the user's opt-in)"})

    def __post_init__(self):
        if not (0 < self.wall_s <= 600 and 0 < self.cpu_s <= 600):
            raise ValueError("sandbox time limits must be between 0 and 600 seconds")
        if not (64 <= self.memory_mb <= 65536):
            raise ValueError("sandbox memory limit must be between 64 and 65536 MiB")
        if not (1 <= self.disk_mb <= 4096 and 16 <= self.disk_files <= 1_000_000):
            raise ValueError("sandbox disk limits must be 1-4096 MiB and 16-1,000,000 files")
        if self.output_bytes < 1 or self.file_bytes < 1:
            raise ValueError("sandbox output and file caps must be positive")


REDUCED_MODE_HINT = ("turn on 'Allow the reduced Python sandbox' (`studio tools sandbox-status --allow-reduced on`) "
                     "to run it anyway, or use a kernel with Landlock (Linux 5.13+) and seccomp")


class SandboxRefused(RuntimeError):
    """The sandbox would run in reduced mode and the user has not opted in; nothing ran."""


def run_python(code: str, limits: SandboxLimits | None = None) -> dict:
    """Run `code` in the sandbox; returns {ok, stdout, stderr, error, duration_s, layers, exit_code}."""
    limits = limits or SandboxLimits()
    if not isinstance(code, str) or not code.strip():
        return _result(False, "", "", "No code to run: pass the Python source in the `code` argument", 0.0)
    with _sandbox_dirs() as workdir:
        return _run_in(workdir, code, limits)


def run_tests(code: str, tests: str, limits: SandboxLimits | None = None) -> dict:
    """Run `code`, then `tests` (asserts), in the sandbox. `passed` is True only when the child
    wrote this run's nonce to the proof pipe, which it does after every assert ran; an early
    `sys.exit(0)` or `os._exit(0)` never gets there. Also returns run_python's fields."""
    import secrets

    limits = limits or SandboxLimits()
    nonce = secrets.token_hex(16).encode()
    with _sandbox_dirs() as workdir:
        (workdir / "tests.py").write_text(tests, encoding="utf-8")
        nonce_r, nonce_w = os.pipe()
        os.write(nonce_w, nonce)  # 32 bytes fit in any pipe buffer
        os.close(nonce_w)
        proof_r, proof_w = os.pipe()
        try:
            result = _run_in(workdir, code, limits, tests_file="tests.py", nonce_fd=nonce_r, proof_fd=proof_w)
        finally:
            os.close(nonce_r)
            os.close(proof_w)
        with os.fdopen(proof_r, "rb") as f:
            proof = f.read(4096)
    result["passed"] = bool(proof == nonce and result["exit_code"] == 0)
    return result


def sandbox_status(limits: SandboxLimits | None = None) -> dict:
    """Which layers hold on this machine: runs `pass` in the sandbox, opted in so it reports
    even in reduced mode. {"mode": "full" | "reduced", "layers": {...}}"""
    limits = limits or SandboxLimits()
    result = run_python("pass", SandboxLimits(**{**asdict(limits), "allow_reduced": True}))
    layers = dict(result["layers"])
    return {"mode": layers.pop("mode", "reduced"), "layers": layers, "error": result["error"]}


class _sandbox_dirs:
    """A private base dir holding `work/` (the code's) and `root/` (the private root's mount
    point); removed afterwards. For root the work dir belongs to the per-run uid."""

    def __enter__(self) -> Path:
        self.base = Path(tempfile.mkdtemp(prefix="studio-sandbox-"))
        work = self.base / "work"
        work.mkdir()
        (self.base / "root").mkdir()
        return work

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


def _sandbox_ids() -> tuple[int, int]:
    """A per-run uid/gid no account uses: runs cannot signal or read each other, and the
    thread limit (RLIMIT_NPROC) counts this run's threads only."""
    import secrets

    n = 0x7F000000 + secrets.randbelow(0x00FFFFFF)
    return n, n


def _result(ok, stdout, stderr, error, duration, layers=None, exit_code=None) -> dict:
    return {"ok": ok, "stdout": stdout, "stderr": stderr, "error": error, "duration_s": round(duration, 3),
            "layers": layers or {}, "exit_code": exit_code}


def _run_in(workdir: Path, code: str, limits: SandboxLimits, **extra) -> dict:
    (workdir / "main.py").write_text(code, encoding="utf-8")
    report_r, report_w = os.pipe()
    uid, gid = _sandbox_ids()
    if os.geteuid() == 0:
        os.chown(workdir, uid, gid)
        os.chmod(workdir.parent, 0o711)  # the uid needs to pass through when there is no private root
    config = dict(asdict(limits), workdir=str(workdir), newroot=str(workdir.parent / "root"), code_file="main.py",
                  report_fd=report_w, sandbox_uid=uid, sandbox_gid=gid, **extra)
    env = {"HOME": str(workdir), "TMPDIR": str(workdir), "PATH": "", "LANG": "C.UTF-8",
           "PYTHONIOENCODING": "utf-8", "PYTHONDONTWRITEBYTECODE": "1", "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    fds = tuple(fd for fd in (report_w, extra.get("nonce_fd"), extra.get("proof_fd")) if fd is not None)
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-B", str(CHILD), json.dumps(config)],
            cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=fds, start_new_session=True, close_fds=True,
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
        layers["audit_hook"] = "on" if (limits.audit_hook or extra.get("tests_file")) else "off"
    rc = proc.returncode
    stdout = out[: limits.output_bytes].decode("utf-8", "replace")
    stderr = err[: max(0, limits.output_bytes - len(out))].decode("utf-8", "replace")
    if layers.get("refused"):
        weak = ", ".join(f"{k} {v}" for k, v in layers.items() if k in ("landlock", "seccomp", "privileges")
                         and not str(v).startswith("on"))
        error = (f"The Python sandbox refused to run the code: {layers['refused']} ({weak}). "
                 f"Nothing was run; {REDUCED_MODE_HINT}.")
    elif error is None and not layers:
        error = _describe_exit(rc, stderr, limits) if rc else "The sandbox failed before reporting its layers"
    elif error is None and rc != 0:
        error = _describe_exit(rc, stderr, limits)
    return _result(error is None, stdout, stderr, error, duration, layers, rc)


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill whatever is left of the process group, then reap the leader. The leader is not
    reaped before the kill, so its pid (the group id) cannot have been reused."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
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

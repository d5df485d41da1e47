"""Escape attempts against the Python sandbox, and how to judge one, for
tests/engines/test_sandbox_escapes.py.

Every attempt prints a TRIED marker right before its attack and an ESCAPED marker only if
the attack went through. Both carry a per-run nonce, assembled at run time so the source
never holds the marker: no traceback, echo or accident can print it. "Contained" therefore
means: TRIED printed (the attack really ran), ESCAPED not printed, nothing changed outside,
and the code did not crash on a bug of its own (NameError, TypeError...).

Syscall attempts go through ctypes. `_reached` counts a call as escaped when it reached the
kernel's own argument checks: every one is made with arguments the kernel rejects or that
are harmless (reboot's CAD_OFF, finit_module(-1), umount of a path that does not exist), so
a broken sandbox on a CI host fails the test without damaging the host.

Run as a script (`python sandbox_attempts.py SPEC_JSON`), it runs the attempts as the uid in
the spec and prints the results as JSON: the unprivileged-user half of the suite.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import sys

NONCE = secrets.token_hex(8)
TRIED, ESCAPED = "TRI" + "ED-" + NONCE, "ESC" + "APED-" + NONCE

PRELUDE = '''
_N = {nonce!r}
def _tried():
    print("TRI" + "ED-" + _N, flush=True)
def _escaped(*a):
    print("ESC" + "APED-" + _N, *a, flush=True)
def _libc():
    _tried()
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return ctypes, libc
def _reached(nr, *args, success_only=False):
    """ESCAPED when the call succeeded or failed on anything but the sandbox's EPERM/EACCES/ENOSYS."""
    import errno
    ctypes, libc = _libc()
    conv = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    rc = libc.syscall(ctypes.c_long(nr), *conv)
    e = ctypes.get_errno()
    if rc >= 0 or (not success_only and e not in (errno.EPERM, errno.EACCES, errno.ENOSYS)):
        _escaped(rc, errno.errorcode.get(e, e))
    else:
        print("denied", errno.errorcode.get(e, e))
'''

ESCAPES = {
    # ---- files
    "read_user_home": "_tried(); print(open({secret!r}).read()); _escaped()",
    "list_user_home": "_tried(); import os; print(os.listdir({home!r})); _escaped()",
    "write_outside": "_tried(); open({home!r} + '/pwned.txt', 'w').write('pwned'); _escaped()",
    "write_outside_os_open": "_tried(); import os; fd = os.open({home!r} + '/pwned.txt', os.O_WRONLY | os.O_CREAT); os.write(fd, b'x'); _escaped()",
    "write_outside_via_dir_fd": ("_tried(); import os; d = os.open({home!r}, os.O_RDONLY | os.O_DIRECTORY)\n"
                                 "fd = os.open('pwned.txt', os.O_WRONLY | os.O_CREAT, dir_fd=d); os.write(fd, b'x'); _escaped()"),
    "list_outside_via_fd": "_tried(); import os; d = os.open({home!r}, os.O_RDONLY); print(os.listdir(d)); _escaped()",
    "chdir_outside_then_write": "_tried(); import os; os.chdir({home!r}); open('pwned.txt', 'w').write('x'); _escaped()",
    "delete_outside": "_tried(); import os; os.remove({precious!r}); _escaped()",
    "rename_outside": "_tried(); import os; os.rename({precious!r}, {home!r} + '/moved.txt'); _escaped()",
    "rmtree_outside": "_tried(); import shutil; shutil.rmtree({home!r}); _escaped()",
    "write_into_python_install": ("_tried(); import sysconfig\n"
                                  "open(sysconfig.get_paths()['purelib'] + '/studio_sandbox_pwned.py', 'w').write('x'); _escaped()"),
    "read_proc_of_the_app": "_tried(); print(open('/proc/{app_pid}/environ').read()); _escaped()",
    "ctypes_open_outside": "ctypes, libc = _libc(); fd = libc.open({secret!r}.encode(), 0)\nif fd >= 0: _escaped(fd)",
    # ---- disk, threads
    "disk_fill_big_files": ("_tried()\nfor i in range(200):\n    with open(f'big{{i}}', 'wb') as f:\n"
                            "        f.write(b'x' * 8_000_000)\n_escaped()"),
    "disk_fill_many_files": "_tried()\nfor i in range(20000):\n    open(f'f{{i}}', 'w').close()\n_escaped()",
    "thread_bomb": ("_tried(); import threading, time; ts = []\nfor _ in range(2000):\n"
                    "    t = threading.Thread(target=time.sleep, args=(3,), daemon=True); t.start(); ts.append(t)\n_escaped(len(ts))"),
    "thread_writes_outside": ("_tried(); import threading\ndef w():\n    open({home!r} + '/thread.txt', 'w').write('x'); _escaped()\n"
                              "t = threading.Thread(target=w); t.start(); t.join()"),
    # ---- network
    "socket_connect": "_tried(); import socket; s = socket.create_connection(('127.0.0.1', {port})); s.sendall(b'pwned'); _escaped()",
    "unix_socket_connect": ("_tried(); import socket; s = socket.socket(socket.AF_UNIX); s.connect({unix_sock!r})\n"
                            "s.sendall(b'pwned'); _escaped()"),
    "io_uring_setup": "ctypes, libc = _libc(); p = ctypes.create_string_buffer(120); _reached(425, 8, p)",
    # ---- processes
    "spawn_shell_system": "_tried(); import os; rc = os.system('echo pwned > {home}/shell.txt')\nif rc == 0: _escaped()",
    "spawn_shell_subprocess": ("_tried(); import subprocess\n"
                               "subprocess.run(['/bin/sh', '-c', 'echo pwned > {home}/sub.txt'], check=True); _escaped()"),
    "exec_replace_process": "_tried(); import os; os.execv('/bin/sh', ['/bin/sh', '-c', 'echo pwned > {home}/exec.txt'])",
    "fork": "_tried(); import os; pid = os.fork()\nif pid == 0:\n    os._exit(0)\n_escaped(pid)",
    "ctypes_fork": "ctypes, libc = _libc(); pid = libc.fork()\nif pid == 0:\n    libc._exit(0)\nif pid >= 0: _escaped(pid)",
    "ctypes_system": "ctypes, libc = _libc()\nif libc.system(b'echo pwned > {home}/ctypes.txt') == 0: _escaped()",
    # ---- signals (signal 0 asks "may I?" without sending anything)
    "kill_the_app": "_tried(); import os; os.kill({app_pid}, 0); _escaped()",
    "ctypes_kill_the_app": "_reached(62, {app_pid}, 0, success_only=True)",
    "ctypes_kill_every_process": "_reached(62, -1, 0, success_only=True)",
    "tgkill_the_app": "_reached(234, {app_pid}, {app_pid}, 0, success_only=True)",
    "pidfd_send_signal": "_reached(424, -1, 0, 0, 0)",
    "ptrace_traceme": "_reached(101, 0, 0, 0, 0, success_only=True)",
    "ptrace_attach_the_app": "_reached(101, 16, {app_pid}, 0, 0, success_only=True)",
    "process_vm_readv_self": (
        "ctypes, libc = _libc(); import os\n"
        "class Iov(ctypes.Structure):\n    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]\n"
        "src, dst = ctypes.create_string_buffer(b'secret', 8), ctypes.create_string_buffer(8)\n"
        "_reached(310, os.getpid(), ctypes.byref(Iov(ctypes.addressof(dst), 8)), 1, "
        "ctypes.byref(Iov(ctypes.addressof(src), 8)), 1, 0)"),
    # ---- devices, kernel, privileges
    "mknod_char_device": ("_tried(); import os, stat; os.mknod('zdev', stat.S_IFCHR | 0o600, os.makedev(1, 5))\n"
                          "open('zdev', 'rb').read(1); _escaped()"),
    "mknod_block_device": "_tried(); import os, stat; os.mknod('bdev', stat.S_IFBLK | 0o600, os.makedev(7, 0)); _escaped()",
    "mknodat_ctypes": "_reached(259, -100, b'zdev2', 0o20600, 0x105, success_only=True)",
    "reboot": "_reached(169, 0xfee1dead, 672274793, 0)",  # LINUX_REBOOT_CMD_CAD_OFF: harmless if it got through
    "init_module": "_reached(175, 0, 0, b'')",
    "finit_module": "_reached(313, -1, b'', 0)",
    "kexec_load": "_reached(246, 0, 0, 0, 0xFFFF0000)",  # invalid flags
    "iopl": "_reached(172, 3)",
    "mount": "_reached(165, b'none', b'/nonexistent-studio', b'tmpfs', 0, 0)",
    "umount2": "_reached(166, b'/nonexistent-studio', 0)",
    "pivot_root": "_reached(155, b'/nonexistent-a', b'/nonexistent-b')",
    "chroot": "_reached(161, b'.', success_only=True)",
    "unshare_user_namespace": "_reached(272, 0x10000000, success_only=True)",
    "setns": "_reached(308, -1, 0)",
    "bpf": "ctypes, libc = _libc(); a = ctypes.create_string_buffer(128); _reached(321, 0, a, 128)",
    "perf_event_open": ("ctypes, libc = _libc(); a = ctypes.create_string_buffer(128); a[4] = 128\n"
                        "_reached(298, a, 0, -1, -1, 0)"),
    "userfaultfd": "_reached(323, 0)",
    "keyctl": "_reached(250, 0, -3, 0)",
    "x32_syscall": "_reached(0x40000000 + 39)",  # getpid through the x32 ABI
}
X86_64_ONLY = {name for name, code in ESCAPES.items() if "_reached(" in code}
# Reduced mode (audit hook and rlimits only) is an opt-in that the README says does not bound
# the disk: without the private root the work dir is an ordinary folder.
NOT_BOUNDED_IN_REDUCED_MODE = {"disk_fill_big_files", "disk_fill_many_files"}
CRASHES = ("NameError", "SyntaxError", "TypeError", "AttributeError", "ModuleNotFoundError", "ValueError",
           "KeyError", "IndexError", "AssertionError", "UnboundLocalError")
VARIANTS = {  # what SandboxLimits gets besides the fast limits
    "all_layers": {},
    "kernel_layers_only": {"audit_hook": False},
    "reduced_mode_opted_in": {"kernel_layers": False, "allow_reduced": True},
}
FAST = dict(wall_s=30.0, cpu_s=2, memory_mb=256)  # wall clock generous: a loaded CI box is slow, a contained attempt is quick


def attempts_for(variant: str) -> list[str]:
    names = sorted(ESCAPES)
    if platform.machine() != "x86_64":
        names = [n for n in names if n not in X86_64_ONLY]
    if variant == "reduced_mode_opted_in":
        names = [n for n in names if n not in NOT_BOUNDED_IN_REDUCED_MODE]
    return names


def code_for(attempt: str, where: dict) -> str:
    return PRELUDE.format(nonce=NONCE) + "\n" + ESCAPES[attempt].format(**where)


def problems(result: dict, nonce: str = NONCE) -> list[str]:
    """Why this result is not a contained attempt (empty: contained)."""
    out = []
    TRIED, ESCAPED = "TRI" + "ED-" + nonce, "ESC" + "APED-" + nonce  # noqa: N806 - the markers of that run
    text = result["stdout"] + result["stderr"]
    if TRIED not in result["stdout"]:
        out.append("the attack never ran (no TRIED marker): it crashed or was refused before it")
    if ESCAPED in result["stdout"]:
        out.append("ESCAPED: " + result["stdout"][result["stdout"].index(ESCAPED):][:200])
    crash = [c for c in CRASHES if c in (result["error"] or "") or c + ":" in text]
    if crash:
        out.append(f"the attempt crashed on its own bug ({crash[0]}), so containment is unproven")
    if "Timed out" in (result["error"] or ""):
        out.append("it only timed out; a contained attempt is refused, not waited for")
    if "TOP-SECRET-TOKEN" in text:
        out.append("the secret leaked")
    return out


def become_user(uid: int, gid: int, reach: list[str]) -> None:
    """Drop this (root) process to uid/gid. A folder on the way to the interpreter that other
    users cannot pass (CI's /root) is covered, in a private mount namespace, by a tmpfs that
    holds only the bind-mounted path to the interpreter: the user reaches Python, not /root."""
    import ctypes
    import tempfile

    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]

    def check(rc, what):
        if rc != 0:
            raise OSError(ctypes.get_errno(), what)

    check(libc.unshare(0x00020000), "unshare(CLONE_NEWNS)")
    check(libc.mount(None, b"/", None, (1 << 14) | (1 << 18), None), "make / private")
    for target in sorted({os.path.realpath(p) for p in [sys.base_prefix, sys.prefix, *reach]}):
        parts = target.split(os.sep)
        for i in range(2, len(parts)):
            folder, child = os.sep.join(parts[:i]), os.sep.join(parts[: i + 1])
            if os.stat(folder).st_mode & 0o001:
                continue
            hold = tempfile.mkdtemp(prefix="studio-sbx-bind-")
            check(libc.mount(child.encode(), hold.encode(), None, 4096 | (1 << 14), None), f"bind {child}")
            check(libc.mount(b"tmpfs", folder.encode(), b"tmpfs", 0, b"mode=0755"), f"tmpfs over {folder}")
            os.mkdir(child)
            check(libc.mount(hold.encode(), child.encode(), None, 8192, None), f"move to {child}")  # MS_MOVE
            os.rmdir(hold)
            break
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)


def main(spec: dict) -> None:
    """The unprivileged half: become spec's uid, run every attempt in the given variants,
    print {"nonce", "runs": [{attempt, variant, result, uid}]} as JSON."""
    become_user(spec["uid"], spec["gid"], [spec["repo"]])
    from engines.tools.sandbox import SandboxLimits, run_python

    where = dict(spec["where"], app_pid=os.getpid())
    runs = []
    for variant in spec["variants"]:
        for attempt in attempts_for(variant):
            result = run_python(code_for(attempt, where), SandboxLimits(**VARIANTS[variant], **FAST))
            runs.append({"attempt": attempt, "variant": variant, "result": result, "uid": os.getuid()})
    print(json.dumps({"nonce": NONCE, "runs": runs}))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))

"""The child side of the Python sandbox: lock this process down, then run the user's code.

Started by engines/tools/sandbox.py as `python -I sandbox_child.py CONFIG_JSON` in a fresh
interpreter (no threads, nothing imported but the stdlib), so every step below runs before
a single line of untrusted code. Standard library only. The layers, in order:

1. network namespace (unshare CLONE_NEWNET, with CLONE_NEWUSER when not root);
2. rlimits: CPU seconds, address space, file size, open files, no core dumps, processes;
3. PR_SET_NO_NEW_PRIVS, then Landlock: read-only beneath the Python installation,
   read-write beneath the private work dir, nothing else; no execve anywhere; no TCP;
   no signals or abstract unix sockets out of the sandbox;
4. seccomp: fork/vfork/execve/socket/ptrace and process-creating clone fail with EPERM;
5. a Python audit hook that refuses subprocess, os.system/exec/fork, sockets, ctypes and
   file writes/deletes outside the work dir with a readable PermissionError.

Each layer reports whether it took effect; a layer the kernel refuses is skipped (and
named in the result), never fatal, so the sandbox degrades instead of breaking.
"""

import json
import os
import sys

CONFIG = json.loads(sys.argv[1])
WORKDIR = os.path.realpath(CONFIG["workdir"])
LAYERS = {}


def _libc():
    import ctypes

    return ctypes, ctypes.CDLL(None, use_errno=True)


def _unshare_network():
    ctypes, libc = _libc()
    clone_newnet, clone_newuser = 0x40000000, 0x10000000
    flags = clone_newnet if os.geteuid() == 0 else clone_newnet | clone_newuser
    if libc.unshare(flags) != 0:
        return "refused: " + os.strerror(ctypes.get_errno())
    return "on"


def _rlimits():
    import resource

    mem = int(CONFIG["memory_mb"]) * 1024 * 1024
    cpu = int(CONFIG["cpu_s"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_FSIZE, (CONFIG["file_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # not enforced for root in the initial user namespace; seccomp covers that case
    resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))
    return "on"


# ---- Landlock (Linux >= 5.13) -------------------------------------------------------------
_SYS = {"x86_64": {"landlock_create_ruleset": 444, "landlock_add_rule": 445, "landlock_restrict_self": 446},
        "aarch64": {"landlock_create_ruleset": 444, "landlock_add_rule": 445, "landlock_restrict_self": 446}}
_FS_READ = (1 << 2) | (1 << 3)  # READ_FILE | READ_DIR
_FILE_ONLY = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 14) | (1 << 15)  # rights valid on a file


def _fs_rights(abi):
    bits = (1 << 13) - 1  # ABI 1: EXECUTE .. MAKE_SYM
    if abi >= 2:
        bits |= 1 << 13  # REFER
    if abi >= 3:
        bits |= 1 << 14  # TRUNCATE
    if abi >= 5:
        bits |= 1 << 15  # IOCTL_DEV
    return bits


def _read_only_roots():
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             "/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/share/zoneinfo"}
    for p in sys.path:
        if p and os.path.isdir(p):
            roots.add(p)
    files = {"/etc/ld.so.cache", "/dev/null", "/dev/urandom", "/etc/localtime"}
    return sorted(r for r in roots if os.path.exists(r)), sorted(f for f in files if os.path.exists(f))


def _landlock():
    import platform

    ctypes, libc = _libc()
    nr = _SYS.get(platform.machine())
    if nr is None:
        return "unavailable: unknown architecture"
    abi = libc.syscall(nr["landlock_create_ruleset"], None, 0, 1)
    if abi < 1:
        return "unavailable: " + os.strerror(ctypes.get_errno())
    fs = _fs_rights(abi)

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]

    net = 0b11 if abi >= 4 else 0  # BIND_TCP | CONNECT_TCP, no rule allows either
    scoped = 0b11 if abi >= 6 else 0  # abstract unix sockets, signals
    attr = RulesetAttr(fs, net, scoped)
    size = 24 if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = libc.syscall(nr["landlock_create_ruleset"], ctypes.byref(attr), size, 0)
    if ruleset < 0:
        return "refused: " + os.strerror(ctypes.get_errno())

    def allow(path, rights):
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        try:
            if not os.path.isdir(path):
                rights &= _FILE_ONLY
            rule = PathBeneath(rights & fs, fd)
            if libc.syscall(nr["landlock_add_rule"], ruleset, 1, ctypes.byref(rule), 0) != 0:
                raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}")
        finally:
            os.close(fd)

    dirs, files = _read_only_roots()
    for p in dirs + files:
        allow(p, _FS_READ)
    allow("/dev/null", _FS_READ | (1 << 1))
    allow(WORKDIR, fs & ~1)  # everything but EXECUTE beneath the work dir
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        return "refused: no_new_privs"
    if libc.syscall(nr["landlock_restrict_self"], ruleset, 0) != 0:
        return "refused: " + os.strerror(ctypes.get_errno())
    os.close(ruleset)
    return f"on (ABI {abi})"


# ---- seccomp ---------------------------------------------------------------------------
_SECCOMP = {  # arch audit id, then syscall numbers refused outright
    "x86_64": (0xC000003E, {"fork": 57, "vfork": 58, "execve": 59, "execveat": 322, "socket": 41,
                            "socketpair": 53, "ptrace": 101}, 56, 435),
    "aarch64": (0xC00000B7, {"execve": 221, "execveat": 281, "socket": 198, "socketpair": 199,
                             "ptrace": 117}, 220, 435),
}


def _seccomp():
    import platform

    spec = _SECCOMP.get(platform.machine())
    if spec is None:
        return "unavailable: unknown architecture"
    arch, refused, clone_nr, clone3_nr = spec
    ctypes, libc = _libc()

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(Filter))]

    ld_w_abs, jeq_k, jset_k, ret_k = 0x20, 0x15, 0x45, 0x06
    allow, kill_proc = 0x7FFF0000, 0x80000000
    eperm, enosys = 0x00050000 | 1, 0x00050000 | 38  # SECCOMP_RET_ERRNO | errno
    clone_thread = 0x00010000
    prog = [
        (ld_w_abs, 0, 0, 4),  # seccomp_data.arch
        (jeq_k, 1, 0, arch),
        (ret_k, 0, 0, kill_proc),
        (ld_w_abs, 0, 0, 0),  # seccomp_data.nr
    ]
    for number in refused.values():
        prog += [(jeq_k, 0, 1, number), (ret_k, 0, 0, eperm)]
    # clone3 hides its flags in memory: answer ENOSYS so libc falls back to clone
    prog += [(jeq_k, 0, 1, clone3_nr), (ret_k, 0, 0, enosys)]
    # clone is allowed for threads only (CLONE_THREAD set); a new process gets EPERM
    prog += [(jeq_k, 0, 3, clone_nr), (ld_w_abs, 0, 0, 16), (jset_k, 1, 0, clone_thread), (ret_k, 0, 0, eperm)]
    prog += [(ret_k, 0, 0, allow)]
    arr = (Filter * len(prog))(*[Filter(*ins) for ins in prog])
    fprog = Prog(len(prog), arr)
    if libc.prctl(38, 1, 0, 0, 0) != 0:
        return "refused: no_new_privs"
    if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        return "refused: " + os.strerror(ctypes.get_errno())
    return "on"


# ---- audit hook ------------------------------------------------------------------------
_REFUSED_EVENTS = [
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.kill",
    "os.killpg", "subprocess.Popen", "socket.", "ctypes.", "sys._current_frames", "pty.spawn",
    "winreg.", "webbrowser.open", "os.startfile", "shutil.chown", "os.chown", "os.chroot",
    "sys.setprofile", "sys.settrace",
]
_REFUSED_IMPORTS = {"ctypes", "_ctypes", "_posixsubprocess", "socket", "_socket", "multiprocessing"}
_READ_EVENTS = {"os.listdir", "os.scandir", "glob.glob", "os.walk"}
_PATH_EVENTS = {"os.remove", "os.rmdir", "os.rename", "os.link", "os.symlink", "os.mkdir", "os.truncate",
                "os.chmod", "os.utime", "shutil.rmtree", "shutil.copyfile", "shutil.move"}


def _inside(path):
    try:
        real = os.path.realpath(os.fsdecode(path) if not isinstance(path, int) else "/proc/self/fd/%d" % path)
    except (TypeError, ValueError):
        return False
    return real == WORKDIR or real.startswith(WORKDIR + os.sep)


def _hook(event, args):
    if event == "import" and args and str(args[0]).split(".")[0] in _REFUSED_IMPORTS:
        raise PermissionError(f"sandbox: importing {args[0]} is not allowed")
    if event.startswith(_REFUSED):
        raise PermissionError(f"sandbox: {event} is not allowed")
    if event == "open":
        path, mode = args[0], args[1] or "r"
        if isinstance(path, int):
            return
        writing = any(c in str(mode) for c in "wax+") or (isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR))
        if writing and not _inside(path):
            raise PermissionError(f"sandbox: writing {os.fsdecode(path)} is outside the sandbox directory")
        if not writing and not _inside(path) and not _readable(path):
            raise PermissionError(f"sandbox: reading {os.fsdecode(path)} is outside the sandbox directory")
    elif event in _READ_EVENTS and args and isinstance(args[0], (str, bytes, os.PathLike)):
        if not _inside(args[0]) and not _readable(args[0]):
            raise PermissionError(f"sandbox: listing {os.fsdecode(args[0])} is outside the sandbox directory")
    elif event in _PATH_EVENTS:
        for a in args[:2]:
            if isinstance(a, (str, bytes, os.PathLike)) and not _inside(a):
                raise PermissionError(f"sandbox: {event} on {os.fsdecode(a)} is outside the sandbox directory")


_READ_ROOTS = []
_REFUSED = ()


def _readable(path):
    real = os.path.realpath(os.fsdecode(path))
    return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in _READ_ROOTS)


def main():
    os.chdir(WORKDIR)
    code_path = os.path.join(WORKDIR, CONFIG["code_file"])
    with open(code_path, encoding="utf-8") as f:
        source = f.read()
    os.unlink(code_path)
    for name, step in (("network_namespace", _unshare_network), ("rlimits", _rlimits),
                       ("landlock", _landlock), ("seccomp", _seccomp)):
        if name != "rlimits" and not CONFIG.get("kernel_layers", True):
            LAYERS[name] = "off"  # only to test the degraded path of a kernel without them
            continue
        try:
            LAYERS[name] = step()
        except Exception as e:  # a layer the kernel refuses is reported, never fatal
            LAYERS[name] = f"refused: {type(e).__name__}: {e}"
    dirs, _files = _read_only_roots()
    _READ_ROOTS.extend(dirs)
    # what the child actually got goes to the parent on fd 3 before the untrusted code runs
    with os.fdopen(CONFIG["report_fd"], "w") as rep:
        rep.write(json.dumps(LAYERS))
    if LAYERS["landlock"].startswith("on") and LAYERS["seccomp"] == "on":
        # The kernel holds files, exec, fork and sockets, so ctypes (numpy imports it) is
        # let through; without those layers the hook refuses it, as ctypes can undo the hook.
        _REFUSED_IMPORTS.difference_update({"ctypes", "_ctypes"})
        _REFUSED_EVENTS.remove("ctypes.")
    else:
        for name in ("ctypes", "_ctypes"):
            sys.modules.pop(name, None)
    global _REFUSED
    _REFUSED = tuple(_REFUSED_EVENTS)
    if CONFIG.get("audit_hook", True):
        sys.addaudithook(_hook)
    del sys.argv[1:]
    glb = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        exec(compile(source, "<sandbox>", "exec"), glb)  # noqa: S102 - this *is* the sandboxed interpreter
    except BaseException as e:  # show the user's frames (and libraries'), not the launcher's
        import traceback

        if isinstance(e, SystemExit):
            raise
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename != __file__]
        sys.stderr.write("Traceback (most recent call last):\n" + "".join(traceback.format_list(frames))
                         + "".join(traceback.format_exception_only(type(e), e)))
        sys.stderr.flush()
        os._exit(1)


if __name__ == "__main__":
    main()

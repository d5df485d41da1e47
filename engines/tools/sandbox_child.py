"""The child side of the Python sandbox: lock this process down, then run the user's code.

Started by engines/tools/sandbox.py as `python -I sandbox_child.py CONFIG_JSON` in a fresh
interpreter (no threads, nothing imported but the stdlib), so every step below runs before
a single line of untrusted code. Standard library only. The layers, in order:

1. namespaces: mount, network, pid, ipc and uts; a non-root user gets them inside a new user
   namespace (its own uid mapped to itself, no capabilities left afterwards);
2. a private root: a read-only tmpfs holding read-only bind mounts of the Python installation
   and the C libraries, /dev/null and /dev/urandom, and the work dir as a small tmpfs of its
   own (size and file count capped; nodev, nosuid, noexec); then chroot into it. Nothing
   else of the host's files is visible;
3. privileges: root becomes an unprivileged per-run uid/gid (no groups); every capability
   is dropped (bounding, permitted, effective, inheritable, ambient); PR_SET_NO_NEW_PRIVS;
4. a fork, so the code runs as pid 1 of its own pid namespace (this process waits and
   passes its exit status on);
5. rlimits: CPU seconds, address space, file size, open files, no core dumps, processes;
6. Landlock: read-only beneath the Python installation, read-write beneath the work dir,
   nothing else; no execve; no TCP (ABI >= 4); no signals or abstract unix sockets out of
   the sandbox (ABI >= 6);
7. seccomp: a denylist (see _DENIED) of process creation, exec, sockets, io_uring, device
   nodes, ptrace and process_vm, reboot/modules/kexec/iopl, mounts, namespaces, bpf,
   perf_event_open, userfaultfd, keys; kill/tgkill only to itself or its process group;
   x32 numbers and foreign architectures refused;
8. a Python audit hook that refuses subprocess, os.system/exec/fork, sockets, ctypes (unless
   both Landlock and seccomp hold) and file access outside the work dir with a readable
   PermissionError.

Each layer reports what took effect. When Landlock or seccomp is missing (an old kernel, a
locked-down container) only the audit hook would hold: then the code is not run unless the
config says `allow_reduced` (the user's opt-in), and the report says `mode: reduced`.

Test-harness mode (`tests_file`, used by the GRPO code_tests reward): after the code and the
tests ran without an exception, the per-run nonce read from `nonce_fd` (before any untrusted
code ran) is written to `proof_fd`. The code cannot forge it: the nonce is read and its fd
closed before the code starts, and the hook refuses the ways to reach it (frames, gc, ctypes).
"""

import json
import os
import sys

CONFIG = {}  # from argv in main(); the module imports without it so a test can read the filter
WORKDIR = ""
LAYERS = {}

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS, PR_CAPBSET_READ, PR_CAPBSET_DROP, PR_CAP_AMBIENT = 38, 23, 24, 47


def _libc():
    import ctypes

    return ctypes, ctypes.CDLL(None, use_errno=True)


def _check(rc, what):
    if rc != 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


# ---- 1. namespaces ------------------------------------------------------------------------
def _namespaces():
    """Returns (report, flags that took effect)."""
    ctypes, libc = _libc()
    uid, gid = os.getuid(), os.getgid()
    base = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    tries = [base] if uid == 0 else [CLONE_NEWUSER | base]
    tries.append(CLONE_NEWNET if uid == 0 else CLONE_NEWUSER | CLONE_NEWNET)
    errors = []
    for flags in tries:
        if libc.unshare(flags) == 0:
            break
        errors.append(os.strerror(ctypes.get_errno()))
    else:
        return "refused: " + "; ".join(errors), 0
    if flags & CLONE_NEWUSER:
        # no uid 0 in here: the user stays who they are, and loses the namespace's capabilities below
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"{uid} {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"{gid} {gid} 1")
    names = [n for bit, n in ((CLONE_NEWUSER, "user"), (CLONE_NEWNS, "mount"), (CLONE_NEWNET, "network"),
                              (CLONE_NEWPID, "pid"), (CLONE_NEWIPC, "ipc"), (CLONE_NEWUTS, "uts")) if flags & bit]
    return "on (" + ", ".join(names) + ")", flags


# ---- 2. a private root ----------------------------------------------------------------------
def _read_only_roots():
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             "/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/share/zoneinfo"}
    for p in sys.path:
        if p and os.path.isdir(p):
            roots.add(p)
    files = {"/etc/ld.so.cache", "/dev/null", "/dev/urandom", "/etc/localtime"}
    return sorted(r for r in roots if os.path.exists(r)), sorted(f for f in files if os.path.exists(f))


def _mount_flags(path):
    """The flags of the mount holding `path`: a user namespace may add flags, never drop them."""
    st = os.statvfs(path).f_flag
    out = 0
    for st_bit, ms_bit in ((1, MS_RDONLY), (2, MS_NOSUID), (4, MS_NODEV), (8, MS_NOEXEC),
                           (1024, 1024), (2048, 2048), (4096, 1 << 21)):  # noatime, nodiratime, relatime
        if st & st_bit:
            out |= ms_bit
    return out


def _private_root(newroot):
    ctypes, libc = _libc()
    mount = libc.mount
    mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    _check(mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "making / private")
    _check(mount(b"tmpfs", newroot.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755,size=64k"), "tmpfs root")

    def bind(src, extra, *, device=False):
        dst = newroot + src
        if os.path.isdir(src):
            os.makedirs(dst, 0o755, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(dst), 0o755, exist_ok=True)
            open(dst, "a").close()
        _check(mount(src.encode(), dst.encode(), None, MS_BIND | MS_REC, None), f"bind {src}")
        flags = MS_REMOUNT | MS_BIND | MS_NOSUID | _mount_flags(src) | extra | (0 if device else MS_NODEV)
        _check(mount(None, dst.encode(), None, flags, None), f"remount {src}")

    dirs, files = _read_only_roots()
    for path in dirs + files:
        bind(path, MS_RDONLY if path != "/dev/null" else 0, device=path.startswith("/dev/"))
    # the work dir is a tmpfs of its own: its size and file count bound a disk filler
    os.makedirs(newroot + WORKDIR, 0o755, exist_ok=True)
    owner = (int(CONFIG["sandbox_uid"]), int(CONFIG["sandbox_gid"])) if os.getuid() == 0 else (os.getuid(), os.getgid())
    opts = f"size={int(CONFIG['disk_mb'])}m,nr_inodes={int(CONFIG['disk_files'])},mode=0700,uid={owner[0]},gid={owner[1]}"
    _check(mount(b"tmpfs", (newroot + WORKDIR).encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts.encode()),
           "work dir tmpfs")
    _check(mount(None, newroot.encode(), None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None), "read-only root")
    os.chdir(newroot)
    _check(libc.chroot(b"."), "chroot")
    os.chdir(WORKDIR)
    return (f"private root (read-only Python and libraries; work dir a {CONFIG['disk_mb']} MiB, "
            f"{CONFIG['disk_files']}-file tmpfs)")


# ---- 3. privileges --------------------------------------------------------------------------
def _last_cap():
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return 63


def _drop_privileges(last_cap, can_switch_uid):
    ctypes, libc = _libc()
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    # Dropping from the bounding set takes CAP_SETPCAP: root and a user namespace have it. A
    # plain user does not, and has no capabilities to lose; with no_new_privs (and no exec)
    # the bounding set can never grant one, so there it is left as it is.
    can_drop_bounding = libc.prctl(PR_CAPBSET_DROP, 0, 0, 0, 0) == 0
    for cap in range(last_cap + 1) if can_drop_bounding else ():
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and libc.prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1:
            raise OSError(ctypes.get_errno(), f"could not drop capability {cap} from the bounding set")
    _check(libc.prctl(PR_CAP_AMBIENT, 4, 0, 0, 0), "clearing ambient capabilities")  # CLEAR_ALL
    who = "uid %d" % os.getuid()
    if os.getuid() == 0 and can_switch_uid:
        uid, gid = int(CONFIG["sandbox_uid"]), int(CONFIG["sandbox_gid"])
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)  # the kernel clears permitted and effective capabilities here
        who = f"uid {uid} gid {gid}, no groups"
    elif os.getuid() == 0:
        # SECBIT_NOROOT | _LOCKED | NO_SETUID_FIXUP | _LOCKED | KEEP_CAPS_LOCKED: uid 0 gains nothing back
        _check(libc.prctl(28, 0x2F, 0, 0, 0), "securebits")  # PR_SET_SECUREBITS
        who = "uid 0, as the Python installation is not readable by another uid"

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    hdr, data = Header(0x20080522, 0), (Data * 2)()
    _check(libc.capset(ctypes.byref(hdr), data), "capset")
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    # verify rather than trust: read every set back
    hdr = Header(0x20080522, 0)
    _check(libc.capget(ctypes.byref(hdr), data), "capget")
    held = [d for d in data for v in (d.effective, d.permitted, d.inheritable) if v]
    bounding = [c for c in range(last_cap + 1) if can_drop_bounding and libc.prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1]
    ambient = [c for c in range(last_cap + 1) if libc.prctl(PR_CAP_AMBIENT, 1, c, 0, 0) == 1]
    if held or bounding or ambient or libc.prctl(39, 0, 0, 0, 0) != 1:  # PR_GET_NO_NEW_PRIVS
        raise OSError(0, f"capabilities left: sets {bool(held)}, bounding {bounding}, ambient {ambient}")
    bounding_note = "" if can_drop_bounding else ", bounding set kept (no CAP_SETPCAP; inert under no_new_privs)"
    return f"on ({who}; no capabilities{bounding_note}; no_new_privs)"


def _reachable(paths, uid, gid):
    """Could `uid` (not root, no groups) reach and read these paths? Checked by mode bits."""
    for path in paths:
        parts = os.path.realpath(path).split(os.sep)
        for i in range(1, len(parts) + 1):
            p = os.sep.join(parts[:i]) or os.sep
            st = os.stat(p)
            need = 0o1 if i < len(parts) or os.path.isdir(p) else 0o4
            mode = (st.st_mode >> 6 if st.st_uid == uid else st.st_mode >> 3 if st.st_gid == gid else st.st_mode) & 7
            if not mode & need:
                return False
    return True


# ---- 5. rlimits -----------------------------------------------------------------------------
def _rlimits():
    import resource

    mem = int(CONFIG["memory_mb"]) * 1024 * 1024
    cpu = int(CONFIG["cpu_s"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_FSIZE, (CONFIG["file_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # threads count as processes; seccomp refuses new processes, this bounds a thread bomb
    # (for root in the initial user namespace the kernel does not enforce it)
    resource.setrlimit(resource.RLIMIT_NPROC, (32, 32))
    return "on"


# ---- 6. Landlock (Linux >= 5.13) ----------------------------------------------------------
_LANDLOCK_NR = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
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


def _landlock():
    import platform

    ctypes, libc = _libc()
    nr = _LANDLOCK_NR.get(platform.machine())
    if nr is None:
        return "unavailable: unknown architecture"
    create, add_rule, restrict = nr
    abi = libc.syscall(create, None, 0, 1)
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
    ruleset = libc.syscall(create, ctypes.byref(attr), size, 0)
    if ruleset < 0:
        return "refused: " + os.strerror(ctypes.get_errno())

    def allow(path, rights):
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        try:
            if not os.path.isdir(path):
                rights &= _FILE_ONLY
            rule = PathBeneath(rights & fs, fd)
            if libc.syscall(add_rule, ruleset, 1, ctypes.byref(rule), 0) != 0:
                raise OSError(ctypes.get_errno(), f"landlock_add_rule {path}")
        finally:
            os.close(fd)

    dirs, files = _read_only_roots()
    for p in dirs + files:
        allow(p, _FS_READ)
    allow("/dev/null", _FS_READ | (1 << 1))
    allow(WORKDIR, fs & ~1)  # everything but EXECUTE beneath the work dir
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return "refused: no_new_privs"
    if libc.syscall(restrict, ruleset, 0) != 0:
        return "refused: " + os.strerror(ctypes.get_errno())
    os.close(ruleset)
    scope = "files, exec" + (", TCP" if abi >= 4 else "") + (", signals, abstract sockets" if abi >= 6 else "")
    return f"on (ABI {abi}: {scope})"


# ---- 7. seccomp ---------------------------------------------------------------------------
# Refused outright with EPERM. x86_64 numbers (arch/x86/entry/syscalls/syscall_64.tbl), then
# aarch64 (include/uapi/asm-generic/unistd.h); None where the architecture has no such call.
_DENIED = {
    # name: (x86_64, aarch64)
    "fork": (57, None), "vfork": (58, None), "execve": (59, 221), "execveat": (322, 281),
    "socket": (41, 198), "socketpair": (53, 199),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "mknod": (133, None), "mknodat": (259, 33),
    "ptrace": (101, 117), "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "process_madvise": (440, 440), "kcmp": (312, 272), "pidfd_getfd": (438, 438),
    "tkill": (200, 130), "rt_sigqueueinfo": (129, 138), "rt_tgsigqueueinfo": (297, 240),
    "pidfd_send_signal": (424, 424),
    "reboot": (169, 142), "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106),
    "kexec_load": (246, 104), "kexec_file_load": (320, 294), "iopl": (172, None), "ioperm": (173, None),
    "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41), "chroot": (161, 51),
    "open_tree": (428, 428), "move_mount": (429, 429), "fsopen": (430, 430), "fsconfig": (431, 431),
    "fsmount": (432, 432), "fspick": (433, 433), "mount_setattr": (442, 442),
    "unshare": (272, 97), "setns": (308, 268),
    "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282),
    "keyctl": (250, 219), "add_key": (248, 217), "request_key": (249, 218),
    "swapon": (167, 224), "swapoff": (168, 225), "acct": (163, 89), "quotactl": (179, 60),
    "settimeofday": (164, 170), "clock_settime": (227, 112), "adjtimex": (159, 171), "clock_adjtime": (305, 266),
    "sethostname": (170, 161), "setdomainname": (171, 162), "syslog": (103, 116), "vhangup": (153, 58),
    "name_to_handle_at": (303, 264), "open_by_handle_at": (304, 265), "fanotify_init": (300, 262),
    "lookup_dcookie": (212, 18), "modify_ldt": (154, None), "uselib": (134, None),
}
_ARCH = {  # audit arch, index into _DENIED, kill, tgkill, clone, clone3, first x32 number
    "x86_64": (0xC000003E, 0, 62, 234, 56, 435, 0x40000000),
    "aarch64": (0xC00000B7, 1, 129, 131, 220, 435, None),
}


def seccomp_program(machine, own_pid):
    """The BPF program as (code, jt, jf, k) tuples; a function so a test can read it."""
    arch, col, kill_nr, tgkill_nr, clone_nr, clone3_nr, x32 = _ARCH[machine]
    ld_w_abs, jeq_k, jge_k, jset_k, ret_k = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, kill_proc = 0x7FFF0000, 0x80000000
    eperm, enosys = 0x00050000 | 1, 0x00050000 | 38  # SECCOMP_RET_ERRNO | errno
    clone_thread = 0x00010000
    prog = [
        (ld_w_abs, 0, 0, 4),  # seccomp_data.arch: another ABI (i386 int 0x80) kills the process
        (jeq_k, 1, 0, arch),
        (ret_k, 0, 0, kill_proc),
        (ld_w_abs, 0, 0, 0),  # seccomp_data.nr
    ]
    if x32 is not None:  # x32 calls share the x86_64 arch id with bit 30 set in the number
        prog += [(jge_k, 0, 1, x32), (ret_k, 0, 0, eperm)]
    for numbers in _DENIED.values():
        if numbers[col] is not None:
            prog += [(jeq_k, 0, 1, numbers[col]), (ret_k, 0, 0, eperm)]
    # clone3 hides its flags in memory: answer ENOSYS so libc falls back to clone
    prog += [(jeq_k, 0, 1, clone3_nr), (ret_k, 0, 0, enosys)]
    # clone is allowed for threads only (CLONE_THREAD set); a new process gets EPERM
    prog += [(jeq_k, 0, 3, clone_nr), (ld_w_abs, 0, 0, 16), (jset_k, 1, 0, clone_thread), (ret_k, 0, 0, eperm)]
    # kill(pid, sig): only 0 (its own process group) or itself. The kernel reads pid as an int,
    # so the low 32 bits of the argument are what counts.
    prog += [(jeq_k, 0, 4, kill_nr), (ld_w_abs, 0, 0, 16), (jeq_k, 2, 0, 0), (jeq_k, 1, 0, own_pid),
             (ret_k, 0, 0, eperm)]
    # tgkill(tgid, tid, sig): only inside its own thread group (raise, pthread_kill)
    prog += [(jeq_k, 0, 3, tgkill_nr), (ld_w_abs, 0, 0, 16), (jeq_k, 1, 0, own_pid), (ret_k, 0, 0, eperm)]
    prog += [(ret_k, 0, 0, allow)]
    return prog


def _seccomp():
    import platform

    if platform.machine() not in _ARCH:
        return "unavailable: unknown architecture"
    prog = seccomp_program(platform.machine(), os.getpid())
    ctypes, libc = _libc()

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(Filter))]

    arr = (Filter * len(prog))(*[Filter(*ins) for ins in prog])
    fprog = Prog(len(prog), arr)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return "refused: no_new_privs"
    if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        return "refused: " + os.strerror(ctypes.get_errno())
    return f"on (denylist of {len(_DENIED)} calls, kill only within its group, no x32)"


# ---- 8. audit hook ------------------------------------------------------------------------
_REFUSED_EVENTS = [
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.kill",
    "os.killpg", "subprocess.Popen", "socket.", "ctypes.", "sys._current_frames", "pty.spawn",
    "winreg.", "webbrowser.open", "os.startfile", "shutil.chown", "os.chown", "os.chroot",
    "sys.setprofile", "sys.settrace",
]
# in test-harness mode, also every way to reach the harness's frame or objects (the nonce)
_HARNESS_EVENTS = ["sys._getframe", "gc.get_objects", "gc.get_referrers", "gc.get_referents", "object.__getattr__",
                   "ctypes.", "sys.addaudithook"]
_REFUSED_IMPORTS = {"ctypes", "_ctypes", "_posixsubprocess", "socket", "_socket", "multiprocessing"}
_READ_EVENTS = {"os.listdir", "os.scandir", "glob.glob", "os.walk", "os.chdir"}
# event: (argument positions holding paths, positions holding a dir_fd; -1 means none was given)
_PATH_EVENTS = {"os.remove": ((0,), (1,)), "os.rmdir": ((0,), (1,)), "os.rename": ((0, 1), (2, 3)),
                "os.link": ((0, 1), (2, 3)), "os.symlink": ((1,), (2,)), "os.mkdir": ((0,), (2,)),
                "os.chmod": ((0,), (2,)), "os.utime": ((0,), (3,)), "shutil.rmtree": ((0,), (1,)),
                "shutil.copyfile": ((1,), ()), "shutil.move": ((0, 1), ()), "os.truncate": ((0,), ())}


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
        path, mode, flags = args[0], args[1] or "r", args[2] if isinstance(args[2], int) else 0
        if isinstance(path, int):
            return
        writing = any(c in str(mode) for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        if not _inside(path):
            # a directory or O_PATH fd outside would make later dir_fd= opens invisible to this hook
            if writing or flags & os.O_PATH or flags & os.O_DIRECTORY or os.path.isdir(os.fsdecode(path)):
                raise PermissionError(f"sandbox: opening {os.fsdecode(path)} is outside the sandbox directory")
            if not _readable(path):
                raise PermissionError(f"sandbox: reading {os.fsdecode(path)} is outside the sandbox directory")
    elif event in _READ_EVENTS and args and isinstance(args[0], (str, bytes, os.PathLike, int)):
        if not _inside(args[0]) and (isinstance(args[0], int) or event == "os.chdir" or not _readable(args[0])):
            raise PermissionError(f"sandbox: {event} on {args[0]!r} is outside the sandbox directory")
    elif event in _PATH_EVENTS:
        paths, dir_fds = _PATH_EVENTS[event]
        for i in paths:
            a = args[i] if i < len(args) else None
            if event == "os.truncate" and isinstance(a, int):
                continue  # ftruncate of a file the code opened for writing (so inside)
            if a is not None and not _inside(a):
                raise PermissionError(f"sandbox: {event} on {a!r} is outside the sandbox directory")
        if any(i < len(args) and args[i] not in (None, -1) for i in dir_fds):
            raise PermissionError(f"sandbox: {event} relative to a dir_fd is not allowed")


_READ_ROOTS = []
_REFUSED = ()


def _readable(path):
    real = os.path.realpath(os.fsdecode(path))
    return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in _READ_ROOTS)


# ---- putting it together ------------------------------------------------------------------
def _step(name, fn, *args):
    try:
        LAYERS[name] = fn(*args)
    except Exception as e:  # a layer the kernel refuses is reported, never fatal here
        LAYERS[name] = f"refused: {type(e).__name__}: {e}"


def _isolate():
    """Steps 1-4 (namespaces, private root, privileges, fork). Returns in the process that runs the code."""
    kernel = CONFIG.get("kernel_layers", True)
    last_cap = _last_cap()
    flags = 0
    if kernel:
        try:
            LAYERS["namespaces"], flags = _namespaces()
        except Exception as e:
            LAYERS["namespaces"] = f"refused: {type(e).__name__}: {e}"
        if flags & CLONE_NEWNS:
            _step("filesystem", _private_root, CONFIG["newroot"])
        else:
            LAYERS["filesystem"] = "shared (no mount namespace)"
    else:
        LAYERS["namespaces"] = LAYERS["filesystem"] = "off"
    chrooted = LAYERS["filesystem"].startswith("private")
    dirs, files = _read_only_roots()
    can_switch = chrooted or _reachable(dirs + [WORKDIR], int(CONFIG.get("sandbox_uid", 0)), int(CONFIG.get("sandbox_gid", 0)))
    _step("privileges", _drop_privileges, last_cap, can_switch)
    if flags & CLONE_NEWPID:
        _run_as_pid_one()


def _run_as_pid_one():
    """Fork: the child is pid 1 of the new pid namespace and goes on; this process waits."""
    import signal

    pid = os.fork()
    if pid == 0:
        LAYERS["namespaces"] += ", code runs as pid 1"
        return
    for fd in (CONFIG["report_fd"], CONFIG.get("proof_fd")):
        if fd is not None:
            os.close(fd)
    _, status, usage = os.wait4(pid, 0)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGKILL and usage.ru_utime + usage.ru_stime >= int(CONFIG["cpu_s"]) - 0.25:
            # pid 1 ignores the soft limit's SIGXCPU, so the hard limit's SIGKILL ended it
            # (rusage lags the limit by a tick)
            sig = signal.SIGXCPU
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status))


def _mode():
    full = LAYERS.get("landlock", "").startswith("on") and LAYERS.get("seccomp", "").startswith("on") \
        and LAYERS.get("privileges", "").startswith("on")
    return "full" if full else "reduced"


def main():
    global WORKDIR
    CONFIG.update(json.loads(sys.argv[1]))
    WORKDIR = os.path.realpath(CONFIG["workdir"])
    os.chdir(WORKDIR)
    code_path = os.path.join(WORKDIR, CONFIG["code_file"])
    with open(code_path, encoding="utf-8") as f:
        source = f.read()
    os.unlink(code_path)
    tests = nonce = None
    if CONFIG.get("tests_file"):
        tests_path = os.path.join(WORKDIR, CONFIG["tests_file"])
        with open(tests_path, encoding="utf-8") as f:
            tests = f.read()
        os.unlink(tests_path)
        with os.fdopen(CONFIG["nonce_fd"], "rb") as f:  # read and closed before any untrusted code
            nonce = f.read()
    _isolate()
    for name, step in (("rlimits", _rlimits), ("landlock", _landlock), ("seccomp", _seccomp)):
        if name != "rlimits" and not CONFIG.get("kernel_layers", True):
            LAYERS[name] = "off"  # only to test the degraded path of a kernel without them
            continue
        _step(name, step)
    LAYERS["mode"] = _mode()
    refuse = LAYERS["mode"] == "reduced" and not CONFIG.get("allow_reduced", False)
    if refuse:
        LAYERS["refused"] = "only the audit hook and rlimits would hold"
    dirs, _files = _read_only_roots()
    _READ_ROOTS.extend(dirs)
    # what the child actually got goes to the parent before the untrusted code runs
    with os.fdopen(CONFIG["report_fd"], "w") as rep:
        rep.write(json.dumps(LAYERS))
    if refuse:
        os._exit(0)
    if LAYERS["mode"] == "full" and tests is None:
        # The kernel holds files, exec, fork and sockets, so ctypes (numpy imports it) is
        # let through; without those layers the hook refuses it, as ctypes can undo the hook.
        _REFUSED_IMPORTS.difference_update({"ctypes", "_ctypes"})
        _REFUSED_EVENTS.remove("ctypes.")
    else:
        for name in ("ctypes", "_ctypes"):
            sys.modules.pop(name, None)
    global _REFUSED
    if tests is not None:
        _REFUSED_EVENTS.extend(_HARNESS_EVENTS)
    _REFUSED = tuple(_REFUSED_EVENTS)
    if CONFIG.get("audit_hook", True) or tests is not None:
        sys.addaudithook(_hook)
    del sys.argv[1:]
    if tests is not None:
        _run_tests(source, tests, nonce, CONFIG["proof_fd"])
    glb = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        exec(compile(source, "<sandbox>", "exec"), glb)  # noqa: S102 - this *is* the sandboxed interpreter
    except BaseException as e:  # show the user's frames (and libraries'), not the launcher's
        import traceback

        if isinstance(e, SystemExit):
            raise
        try:
            sys.stdout.flush()  # what the code printed before the error is part of the answer
        except Exception:  # noqa: BLE001 - the code may have closed or replaced stdout
            pass
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename != __file__]
        sys.stderr.write("Traceback (most recent call last):\n" + "".join(traceback.format_list(frames))
                         + "".join(traceback.format_exception_only(type(e), e)))
        sys.stderr.flush()
        os._exit(1)


def _strict_eq(a, b):
    """`==` for the tests: an object of a class the completion defined never equals a value of
    any other class (the always-equal `__eq__` hack), whatever its `__eq__` says."""
    defined_a, defined_b = type(a).__module__ == "__main__", type(b).__module__ == "__main__"
    if defined_a != defined_b:
        return False
    return bool(a == b)


def _strict_tests(tests):
    """The tests with every `x == y` / `x != y` going through _strict_eq."""
    import ast

    class Strict(ast.NodeTransformer):
        def visit_Compare(self, node):
            self.generic_visit(node)
            if len(node.ops) != 1 or not isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
                return node
            call = ast.Call(ast.Name("__studio_strict_eq__", ast.Load()), [node.left, node.comparators[0]], [])
            return call if isinstance(node.ops[0], ast.Eq) else ast.UnaryOp(ast.Not(), call)

    return compile(ast.fix_missing_locations(Strict().visit(ast.parse(tests))), "<tests>", "exec")


def _run_tests(source, tests, nonce, proof_fd, _write=os.write, _exit=os._exit, _exec=exec, _compile=compile,
               _dict=dict, _builtins=__builtins__):
    """Run the code, then the tests; only if both finish, prove it with the nonce.

    SystemExit or os._exit in the code ends the run before the proof is written, so an early
    exit scores as a failure whatever the exit status. Everything the harness calls after the
    code ran was bound before it (default arguments), so rebinding builtins changes nothing
    here; the tests run with a copy of the builtins taken before the code ran, and the names
    the code defined, minus any that shadow a builtin."""
    pristine = _dict(vars(_builtins) if not isinstance(_builtins, dict) else _builtins)
    try:
        strict = _strict_tests(tests)
        glb = {"__name__": "__main__", "__builtins__": _dict(pristine)}
        _exec(_compile(source, "<completion>", "exec"), glb)  # noqa: S102
        tglb = {k: v for k, v in glb.items() if k not in pristine}
        tglb.update(__name__="__main__", __builtins__=_dict(pristine), __studio_strict_eq__=_strict_eq)
        _exec(strict, tglb)  # noqa: S102
    except BaseException as e:  # noqa: BLE001 - any way out of the code or the tests is a failure
        try:
            sys.stderr.write(f"{type(e).__name__}: {e}\n")
            sys.stderr.flush()
        finally:
            _exit(1)
    _write(proof_fd, nonce)
    _exit(0)


if __name__ == "__main__":
    main()

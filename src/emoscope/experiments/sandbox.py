"""Run untrusted Python (a model's code) in a subprocess that cannot reach the network or the filesystem outside
a fresh temporary directory, and cannot run past its time or memory limits.

Layers of protection, each proven by a test:

* **Process**: a new ``python -I -S`` (isolated mode, no site-packages, empty environment) in a new session,
  killed with its whole process group at the wall-clock limit; ``RLIMIT_CPU``, ``RLIMIT_AS`` (memory),
  ``RLIMIT_FSIZE`` (largest file) and ``RLIMIT_CORE`` = 0 set before it starts.
* **Network**: a new, empty network namespace (``unshare(CLONE_NEWNET)``, with a user namespace when not root):
  no interface is up, so nothing is reachable, loopback included. Where namespaces are unavailable the run
  records ``network: "audit"`` and relies on the next layer alone.
* **Filesystem**: Landlock (Linux 5.13 and later), applied to the child before it starts Python: read-only
  access to the Python installation and the system's shared libraries, read-write access to the temporary
  directory, nothing anywhere else (and, with Landlock ABI 4, no TCP bind or connect). Where Landlock is
  unavailable the run records ``filesystem: "audit"`` and relies on the next layer alone.
* **Audit hook** (installed before the untrusted code is even compiled; Python offers no way to remove one):
  refuses sockets, subprocesses, ``fork``/``exec``/``system``, ``ctypes``, opening files for writing
  outside the temporary directory, reading files outside it and the Python installation, and changing files or
  directories outside it.

Example:
    >>> r = run_python("print(1 + 1)")
    >>> r.ok, r.stdout.strip()
    (True, '2')
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000

# Runs inside the child before the untrusted code; {roots} and {tmp} are filled in.
_GUARD = r'''
import sys, os
_TMP = os.path.realpath({tmp!r})
_READ_ROOTS = tuple(os.path.realpath(p) for p in {roots!r})
_BLOCKED = {{"socket.socket", "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo",
            "socket.gethostbyname", "socket.sendto", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn",
            "os.spawn", "os.fork", "os.forkpty", "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "os.kill",
            "os.killpg", "signal.pthread_kill", "resource.setrlimit", "sys.setprofile", "sys.settrace"}}
_WRITES = {{"os.remove", "os.rename", "os.replace", "os.mkdir", "os.rmdir", "os.symlink", "os.link",
           "os.truncate", "os.chmod", "os.chown", "os.utime", "shutil.rmtree", "shutil.move", "os.chdir",
           "os.chroot", "os.mknod", "os.mkfifo", "os.setxattr", "os.removexattr"}}
_LISTS = {{"os.listdir", "os.scandir", "glob.glob"}}

def _inside(path, roots):
    try:
        p = os.path.realpath(os.fsdecode(path)) if not isinstance(path, int) else None
    except Exception:
        return False
    if p is None:
        return True  # an already open descriptor
    return any(p == r or p.startswith(r + os.sep) for r in roots)

def _guard(event, args):
    if event in _BLOCKED:
        raise PermissionError(f"sandbox: {{event}} is not allowed")
    if event == "open":
        path, mode, flags = (list(args) + [None, None, None])[:3]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC))
        if path is None:
            return
        if writing and not _inside(path, (_TMP,)):
            raise PermissionError(f"sandbox: writing {{path!r}} is not allowed outside the temporary directory")
        if not writing and not _inside(path, (_TMP,) + _READ_ROOTS):
            raise PermissionError(f"sandbox: reading {{path!r}} is not allowed")
    elif event in _WRITES:
        for a in args:
            if isinstance(a, (str, bytes, os.PathLike)) and not _inside(a, (_TMP,)):
                raise PermissionError(f"sandbox: {{event}} on {{a!r}} is not allowed outside the temporary directory")
    elif event in _LISTS:
        for a in args[:1]:
            if isinstance(a, (str, bytes, os.PathLike)) and not _inside(a, (_TMP,) + _READ_ROOTS):
                raise PermissionError(f"sandbox: listing {{a!r}} is not allowed")

sys.addaudithook(_guard)
del _guard
__code = open("program.py", encoding="utf-8").read()
__g = {{"__name__": "__main__"}}
exec(compile(__code, "program.py", "exec"), __g)
'''


@dataclass(frozen=True)
class Limits:
    """Resource limits of one run."""

    wall_seconds: float = 10.0
    cpu_seconds: int = 10
    memory_bytes: int = 512 * 1024 * 1024
    file_bytes: int = 8 * 1024 * 1024
    output_bytes: int = 64 * 1024


@dataclass(frozen=True)
class RunResult:
    """What happened: exit code (``None`` when killed at the wall-clock limit), output, and how it was isolated
    (``network``: ``namespace`` or ``audit``; ``filesystem``: ``landlock`` or ``audit``)."""

    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float
    network: str
    filesystem: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def _namespace_flags() -> int | None:
    """The unshare flags that work here (probed once in a throwaway child), or ``None``."""
    global _PROBED
    if _PROBED is not None:
        return _PROBED if _PROBED >= 0 else None
    for flags in (CLONE_NEWNET, CLONE_NEWNET | CLONE_NEWUSER):
        try:
            subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], preexec_fn=_unshare(flags), check=True,
                           capture_output=True, timeout=20)
        except (subprocess.SubprocessError, OSError):
            continue
        _PROBED = flags
        return flags
    _PROBED = -1
    return None


_PROBED: int | None = None


def _unshare(flags: int) -> Callable[[], None]:
    def pre() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(flags) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    return pre


_SYS_CREATE, _SYS_ADD_RULE, _SYS_RESTRICT = 444, 445, 446  # the same numbers on x86_64 and aarch64
_FS_READ = (1 << 0) | (1 << 2) | (1 << 3)  # execute, read file, read directory


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0 when Landlock is unavailable)."""
    if not sys.platform.startswith("linux"):
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    v = libc.syscall(_SYS_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(int(v), 0)


def _landlock(abi: int, writable: str, readable: list[str]) -> None:
    """In the child: from now on, the filesystem is read-only under ``readable``, read-write under ``writable``,
    and closed elsewhere; with ABI 4 or later, TCP bind and connect are refused too."""
    libc = ctypes.CDLL(None, use_errno=True)
    fs = (1 << 13) - 1
    if abi >= 2:
        fs |= 1 << 13  # refer
    if abi >= 3:
        fs |= 1 << 14  # truncate
    if abi >= 5:
        fs |= 1 << 15  # ioctl on devices
    attr = _RulesetAttr(fs, 0b11 if abi >= 4 else 0)
    size = ctypes.sizeof(attr) if abi >= 4 else 8
    fd = libc.syscall(_SYS_CREATE, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if fd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    for path, access in [(writable, fs), *((p, _FS_READ & fs) for p in readable)]:
        try:
            pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        rule = _PathBeneath(access if os.path.isdir(path) else access & ~(1 << 3), pfd)
        if libc.syscall(_SYS_ADD_RULE, fd, 1, ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
        os.close(pfd)
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    if libc.syscall(_SYS_RESTRICT, fd, ctypes.c_uint32(0)) != 0:
        raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    os.close(fd)


def _limits_fn(limits: Limits, flags: int | None, abi: int, tmp: str, readable: list[str]) -> Callable[[], None]:
    def pre() -> None:
        import resource

        os.setsid()
        if flags is not None:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(flags) != 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds))
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if abi > 0:
            _landlock(abi, tmp, readable)
    return pre


def _loader_roots() -> list[str]:
    """What starting the interpreter reads: its installation, the venv, and the system's shared libraries."""
    exe = os.path.realpath(sys.executable)
    roots = {*_python_roots(), os.path.dirname(exe), "/lib", "/lib64", "/usr/lib", "/usr/lib64",
             "/etc/ld.so.cache"}
    return sorted(r for r in roots if os.path.exists(r))


def _python_roots() -> list[str]:
    paths = {sys.base_prefix, sys.prefix, sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]}
    return sorted(p for p in paths if p)


def run_python(code: str, limits: Limits | None = None, stdin: str = "", audit: bool = True) -> RunResult:
    """Run ``code`` under the sandbox (see the module docstring) in a fresh temporary directory, removed after.

    ``audit=False`` leaves out the audit hook, so that tests can prove the operating-system layers alone.

    Example:
        >>> run_python("open('/etc/hostname-copy', 'w')").stderr.splitlines()[-1]  # doctest: +ELLIPSIS
        "PermissionError: sandbox: writing '/etc/hostname-copy' is not allowed outside the temporary directory"
    """
    lim = limits or Limits()
    flags = _namespace_flags() if sys.platform.startswith("linux") else None
    abi = landlock_abi()
    with tempfile.TemporaryDirectory(prefix="emoscope-sandbox-") as tmp:
        Path(tmp, "program.py").write_text(code, encoding="utf-8")
        guard = _GUARD.format(tmp=tmp, roots=_python_roots())
        if not audit:
            guard = guard.replace("sys.addaudithook(_guard)", "pass")
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", guard], cwd=tmp, env={"PATH": "/usr/bin:/bin"},
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                preexec_fn=_limits_fn(lim, flags, abi, tmp, _loader_roots()))
        timed_out = False
        try:
            out, err = proc.communicate(stdin.encode(), timeout=lim.wall_seconds)
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            out, err = proc.communicate()
        seconds = time.perf_counter() - start
    cut = lim.output_bytes
    return RunResult(returncode=None if timed_out else proc.returncode,
                     stdout=out[:cut].decode("utf-8", "replace"), stderr=err[-cut:].decode("utf-8", "replace"),
                     timed_out=timed_out, seconds=seconds, network="namespace" if flags is not None else "audit",
                     filesystem="landlock" if abi > 0 else "audit")


def run_tests(solution: str, tests: str, limits: Limits | None = None) -> dict[str, object]:
    """Run ``solution`` then each ``assert`` line of ``tests`` separately; report how many passed.

    Returns ``{"passed", "total", "error", "timed_out", "network", "filesystem", "stderr"}`` (``error``: the
    solution itself failed, or was stopped at a limit).
    """
    checks = [line.strip() for line in tests.splitlines() if line.strip().startswith("assert")]
    harness = (solution + "\n\nimport json as __json\n__res = []\nfor __src in " + json.dumps(checks) + ":\n"
               "    try:\n        exec(__src)\n        __res.append(True)\n"
               "    except BaseException:\n        __res.append(False)\n"
               "print('__RESULTS__' + __json.dumps(__res))\n")
    r = run_python(harness, limits)
    marker = [line for line in r.stdout.splitlines() if line.startswith("__RESULTS__")]
    results = json.loads(marker[-1][len("__RESULTS__"):]) if marker else []
    return {"passed": int(sum(results)), "total": len(checks), "error": not marker,
            "timed_out": r.timed_out, "network": r.network, "filesystem": r.filesystem, "stderr": r.stderr[-500:]}

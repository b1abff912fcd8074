"""Run untrusted Python (a model's code) under bubblewrap: no network, no filesystem but the Python standard
library and a small private scratch directory, no other process visible, limits on time, CPU, memory, file
size and output.

The isolation is an existing, maintained tool's: Debian's ``bubblewrap`` (``bwrap``), the sandbox under Flatpak.
Each run is a new ``bwrap`` with

* every namespace unshared (network: no interface but a loopback nobody listens on; process ids: only the sandbox's
  own processes; IPC, UTS, cgroup, user), all capabilities dropped, a new terminal session, killed with its
  parent, further user namespaces disabled;
* a filesystem built from nothing: read-only binds of the interpreter's installation and the system's shared
  libraries with **every site-packages directory masked by an empty tmpfs** (so neither emoscope, its scenario
  files nor any other installed package can be read), ``/dev`` minimal, no ``/proc``, no ``/etc`` but the
  loader's cache, and a writable tmpfs of bounded size as the working directory (``/sandbox``) beside a 1 MiB
  ``/tmp``; the root is remounted read-only and nothing on the host is writable;
* an empty environment and ``python -I -S`` (isolated mode, no site).

Resource limits (``RLIMIT_CPU``, ``RLIMIT_AS``, ``RLIMIT_FSIZE``, ``RLIMIT_CORE`` = 0) are set by the trusted
prelude inside the sandbox before the untrusted code is read (no ``preexec_fn`` runs in the parent's forked
process); the wall-clock limit kills the whole process group, and with it the sandbox's process namespace.
Output is read in bounded chunks, so a flood costs no memory in the parent.

An audit hook is installed first as a tripwire (processes, native code, sockets, heap walks): its state is a
frozenset held in a closure, not a module global the code could clear. It is *not* the boundary: bubblewrap is,
and the tests prove every limit with the hook left out.

Where bubblewrap is missing or cannot create namespaces, :func:`run_python` refuses to run
(:class:`SandboxUnavailable`, with the fix) instead of running with weaker isolation.

Example:
    >>> r = run_python("print(1 + 1)")  # doctest: +SKIP
    >>> r.ok, r.stdout.strip(), r.isolation  # doctest: +SKIP
    (True, '2', 'bubblewrap')
"""

from __future__ import annotations

import os
import shutil
import signal
import site
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ISOLATION = "bubblewrap"
FIX = ("install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap); it must be "
       "able to create namespaces (as root, or with unprivileged user namespaces enabled)")
WORKDIR = "/sandbox"
CHANNEL_FD = "__CHANNEL_FD__"  # in a body, replaced by the result channel's descriptor number (see grader)


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot run here (bubblewrap missing or not allowed to create namespaces)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one run."""

    wall_seconds: float = 10.0
    cpu_seconds: int = 10
    memory_bytes: int = 512 * 1024 * 1024
    file_bytes: int = 8 * 1024 * 1024
    disk_bytes: int = 16 * 1024 * 1024
    output_bytes: int = 64 * 1024


@dataclass(frozen=True)
class RunResult:
    """What happened: exit code (negative: killed by that signal; ``None``: killed at the wall-clock limit), the
    first ``output_bytes`` of stdout, the last of stderr, whether output was cut, the bytes written to the result
    channel (graded calls only, capped) and the isolation used."""

    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    seconds: float
    isolation: str
    output_cut: bool = False
    channel: bytes = b""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


# The trusted prelude: runs first in the sandboxed interpreter. {limits} and {body} are filled in.
_PRELUDE = r'''
import sys, os, resource
for _r, _v in {limits!r}:
    resource.setrlimit(getattr(resource, _r), (_v, _v))
def _tripwire():
    blocked = frozenset(("socket.socket", "socket.__new__", "socket.connect", "socket.bind", "subprocess.Popen",
                         "os.system", "os.fork", "os.forkpty", "os.kill", "os.killpg", "signal.pthread_kill",
                         "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "ctypes.addressof", "resource.setrlimit",
                         "sys.setprofile", "sys.settrace", "gc.get_objects", "gc.get_referrers",
                         "gc.get_referents", "sys._current_frames", "sys.remote_exec"))
    prefixes = ("os.exec", "os.spawn", "os.posix_spawn", "_posixsubprocess")
    def hook(event, args, _blocked=blocked, _prefixes=prefixes):
        if event in _blocked or event.startswith(_prefixes):
            raise PermissionError("sandbox: " + event + " is not allowed")
    return hook
if {audit!r}:
    sys.addaudithook(_tripwire())
del _tripwire, _r, _v
{body}
'''

_RUN_PROGRAM = r'''
__g = {"__name__": "__main__"}
exec(compile(open("program.py", encoding="utf-8").read(), "program.py", "exec"), __g)
'''

_PROBED: str | None = None  # "" when bubblewrap works, else why not


def bwrap_path() -> str | None:
    """Where ``bwrap`` is (``None`` when it is not installed)."""
    return shutil.which("bwrap") or next((p for p in ("/usr/bin/bwrap", "/bin/bwrap") if os.access(p, os.X_OK)),
                                         None)


def sandbox_problem() -> str | None:
    """Why the sandbox cannot run here, or ``None`` when it can (probed once with a throwaway run)."""
    global _PROBED
    if _PROBED is None:
        exe = bwrap_path()
        if not sys.platform.startswith("linux"):
            _PROBED = f"the sandbox needs Linux (bubblewrap); this is {sys.platform}"
        elif exe is None:
            _PROBED = "bubblewrap (bwrap) is not installed"
        else:
            try:
                p = subprocess.run([*_command(exe, Limits()), "-c", "print('ok')"], capture_output=True, timeout=30,
                                   stdin=subprocess.DEVNULL)
                _PROBED = "" if p.stdout.strip() == b"ok" else (
                    "bubblewrap cannot create its sandbox here: "
                    + (p.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"])[-1])
            except (OSError, subprocess.SubprocessError) as exc:
                _PROBED = f"bubblewrap failed to start: {exc}"
    return _PROBED or None


def require_sandbox() -> None:
    """Raise :class:`SandboxUnavailable` (naming the fix) when untrusted code cannot be isolated here."""
    problem = sandbox_problem()
    if problem:
        raise SandboxUnavailable(f"{problem}: {FIX}")


def _hidden_dirs() -> list[str]:
    """Directories of installed packages (every site-packages and the emoscope package itself)."""
    dirs = set(site.getsitepackages()) | {site.getusersitepackages()}
    for scheme in (sysconfig.get_paths(), sysconfig.get_paths(vars={"base": sys.base_prefix,
                                                                   "platbase": sys.base_prefix})):
        dirs |= {scheme["purelib"], scheme["platlib"]}
    dirs |= {p for p in sys.path if p.endswith(("site-packages", "dist-packages"))}
    dirs.add(str(Path(__file__).resolve().parents[1]))
    return sorted({os.path.realpath(d) for d in dirs if d and os.path.isdir(d)})


def _command(exe: str, limits: Limits) -> list[str]:
    """The ``bwrap`` command line up to the interpreter's arguments."""
    python = os.path.realpath(sys.executable)
    ro = {os.path.realpath(sys.base_prefix), os.path.dirname(python), "/usr"}
    base = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix,
                                     "installed_base": sys.base_prefix, "installed_platbase": sys.base_prefix})
    ro |= {os.path.realpath(base[k]) for k in ("stdlib", "platstdlib")}
    argv = [exe, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL", "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "LANG", "C.UTF-8",
            "--hostname", "sandbox"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            ro.add(top)
    ro = {r for r in ro if not any(r != o and r.startswith(o.rstrip("/") + "/") for o in ro)}
    for path in sorted(r for r in ro if os.path.exists(r)):
        argv += ["--ro-bind", path, path]
    if os.path.exists("/etc/ld.so.cache"):
        argv += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    for hidden in _hidden_dirs():
        if any(hidden == r or hidden.startswith(r.rstrip("/") + "/") for r in ro):
            argv += ["--tmpfs", hidden, "--remount-ro", hidden]
    argv += ["--dev", "/dev", "--size", str(limits.disk_bytes), "--tmpfs", WORKDIR, "--size", str(1 << 20),
             "--tmpfs", "/tmp", "--remount-ro", "/", "--chdir", WORKDIR]
    return [*argv, "--", python, "-I", "-S"]


def _rlimits(limits: Limits) -> list[tuple[str, int]]:
    return [("RLIMIT_CPU", limits.cpu_seconds), ("RLIMIT_AS", limits.memory_bytes),
            ("RLIMIT_FSIZE", limits.file_bytes), ("RLIMIT_CORE", 0)]


def prelude(body: str, limits: Limits, audit: bool = True) -> str:
    """The trusted code run first in the sandbox: the limits, the tripwire, then ``body``."""
    return _PRELUDE.format(limits=_rlimits(limits), audit=audit, body=body)


class _Capped:
    """Reads a pipe to its end in a thread, keeping the first (or last) ``cap`` bytes and dropping the rest."""

    def __init__(self, stream: IO[bytes], cap: int, keep_last: bool = False) -> None:
        self.data = bytearray()
        self.cut = False
        self._stream, self._cap, self._last = stream, cap, keep_last
        self.thread = threading.Thread(target=self._pump, daemon=True)
        self.thread.start()

    def _pump(self) -> None:
        while chunk := self._stream.read1(65536) if hasattr(self._stream, "read1") else self._stream.read(65536):
            if self._last:
                self.data += chunk
                if len(self.data) > self._cap:
                    del self.data[:len(self.data) - self._cap]
                    self.cut = True
            elif len(self.data) < self._cap:
                room = self._cap - len(self.data)
                self.data += chunk[:room]
                self.cut = self.cut or len(chunk) > room
            else:
                self.cut = True
        self._stream.close()


def run_sandboxed(body: str, files: dict[str, str], limits: Limits | None = None, stdin: str = "",
                  audit: bool = True, channel: bool = False) -> RunResult:
    """Run the trusted ``body`` (after the prelude) with ``files`` placed read-only in the working directory.

    With ``channel=True`` the sandbox gets the write end of a pipe (the result channel of a graded call), whose
    descriptor number replaces :data:`CHANNEL_FD` in ``body``; what is written there comes back as
    ``RunResult.channel`` (at most ``output_bytes``).
    """
    require_sandbox()
    lim = limits or Limits()
    exe = bwrap_path()
    assert exe is not None
    argv = _command(exe, lim)
    keep: list[IO[bytes]] = []
    extra: list[str] = []
    for name, text in files.items():
        data = tempfile.TemporaryFile()
        data.write(text.encode("utf-8"))
        data.seek(0)
        keep.append(data)
        extra += ["--perms", "0444", "--ro-bind-data", str(data.fileno()), f"{WORKDIR}/{name}"]
    argv[argv.index("--"):argv.index("--")] = extra
    read_end, write_end = os.pipe() if channel else (-1, -1)
    argv += ["-c", prelude(body.replace(CHANNEL_FD, str(write_end)), lim, audit)]
    pass_fds = [fh.fileno() for fh in keep]
    if channel:
        os.set_inheritable(write_end, True)
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True, pass_fds=pass_fds + ([write_end] if channel else []),
                                env={"PATH": "/usr/bin:/bin"})
    except OSError as exc:
        for fh in keep:
            fh.close()
        raise SandboxUnavailable(f"bubblewrap failed to start ({exc}): {FIX}") from None
    if channel:
        os.close(write_end)
    for fh in keep:
        fh.close()
    assert proc.stdout is not None and proc.stderr is not None and proc.stdin is not None
    out = _Capped(proc.stdout, lim.output_bytes)
    err = _Capped(proc.stderr, lim.output_bytes, keep_last=True)
    chan = _Capped(os.fdopen(read_end, "rb", buffering=0), lim.output_bytes) if channel else None
    try:
        proc.stdin.write(stdin.encode("utf-8"))
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass
    timed_out = False
    try:
        proc.wait(timeout=lim.wall_seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    for reader in (out, err, chan):
        if reader is not None:
            reader.thread.join(timeout=5)
    seconds = time.perf_counter() - start
    code = proc.returncode
    if code is not None and code > 128:  # bwrap reports a child killed by signal N as 128 + N
        code = -(code - 128)
    return RunResult(returncode=None if timed_out else code,
                     stdout=bytes(out.data).decode("utf-8", "replace"),
                     stderr=bytes(err.data).decode("utf-8", "replace"), timed_out=timed_out, seconds=seconds,
                     isolation=ISOLATION, output_cut=out.cut or err.cut,
                     channel=bytes(chan.data) if chan is not None else b"")


def run_python(code: str, limits: Limits | None = None, stdin: str = "", audit: bool = True) -> RunResult:
    """Run ``code`` as ``program.py`` in the sandbox (see the module docstring).

    ``audit=False`` leaves out the tripwire, so that tests prove the operating-system layers alone.

    Example:
        >>> run_python("open('/etc/planted', 'w')").stderr.splitlines()[-1]  # doctest: +SKIP
        "OSError: [Errno 30] Read-only file system: '/etc/planted'"
    """
    return run_sandboxed(_RUN_PROGRAM, {"program.py": code}, limits, stdin, audit)

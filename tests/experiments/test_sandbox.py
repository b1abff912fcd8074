"""Each limit of the bubblewrap sandbox, proven with the tripwire audit hook left out (the operating-system layer
alone), and the refusal to run where bubblewrap cannot."""

from __future__ import annotations

import resource
import signal
import socket
import threading
from importlib import resources
from pathlib import Path

import pytest

from emoscope.experiments import sandbox
from emoscope.experiments.sandbox import Limits, SandboxUnavailable, run_python

FAST = Limits(wall_seconds=3.0, cpu_seconds=2)


def test_runs_code_under_bubblewrap() -> None:
    r = run_python("import math\nprint(math.factorial(5))")
    assert r.ok and r.stdout.strip() == "120" and r.isolation == "bubblewrap"


@pytest.mark.parametrize("code", ["while True: pass", "import time\ntime.sleep(60)\nprint('finished')"])
def test_time_limit(code: str) -> None:
    r = run_python(code, FAST, audit=False)
    assert not r.ok and "finished" not in r.stdout
    if "sleep" in code:  # uses no CPU: only the wall-clock limit can stop it
        assert r.timed_out and r.returncode is None
    else:  # killed at the wall clock, or by the kernel at the CPU limit (SIGXCPU, then SIGKILL)
        assert r.timed_out or r.returncode in (-signal.SIGXCPU, -signal.SIGKILL)


def test_memory_limit() -> None:
    r = run_python("x = bytearray(3 * 1024 ** 3)\nprint('allocated')", Limits(memory_bytes=256 * 1024 ** 2),
                   audit=False)
    assert not r.ok and "allocated" not in r.stdout and "MemoryError" in r.stderr


def test_file_size_limit_and_no_core_files() -> None:
    code = ("import resource\nprint(resource.getrlimit(resource.RLIMIT_CORE))\n"
            "open('big', 'wb').write(b'x' * (2 * 1024 * 1024))\nprint('wrote')")
    r = run_python(code, Limits(file_bytes=1024 * 1024), audit=False)
    assert r.stdout.splitlines()[0] == "(0, 0)"
    assert "wrote" not in r.stdout and "File too large" in r.stderr  # EFBIG: Python ignores SIGXFSZ


def test_scratch_space_is_bounded() -> None:
    code = ("n = 0\ntry:\n    for i in range(64):\n        open(f'f{i}', 'wb').write(b'x' * 1024 * 1024)\n"
            "        n += 1\nexcept OSError as e:\n    print('stopped', n, e.errno)")
    r = run_python(code, Limits(disk_bytes=4 * 1024 * 1024), audit=False)
    assert r.stdout.startswith("stopped") and int(r.stdout.split()[1]) <= 4  # ENOSPC at the tmpfs size


def test_output_is_capped_without_holding_the_flood() -> None:
    r = run_python("import sys\nfor _ in range(200):\n    sys.stdout.write('x' * 100000)\n"
                   "    sys.stderr.write('y' * 100000)", Limits(output_bytes=1000), audit=False)
    assert r.ok and len(r.stdout) == 1000 and len(r.stderr) == 1000 and r.output_cut


@pytest.fixture()
def listener() -> int:
    """A TCP server on loopback in the test process; the sandbox must not reach it."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    srv.settimeout(5)
    threading.Thread(target=lambda: _accept(srv), daemon=True).start()
    return int(srv.getsockname()[1])


def _accept(srv: socket.socket) -> None:
    try:
        conn, _ = srv.accept()
        conn.close()
    except OSError:
        pass


def test_network_is_unreachable(listener: int) -> None:
    code = (f"import socket\ns = socket.socket()\ns.settimeout(2)\n"
            f"print('code', s.connect_ex(('127.0.0.1', {listener})))")
    r = run_python(code, FAST, audit=False)
    assert r.ok and r.stdout.startswith("code") and "code 0" not in r.stdout
    assert "not allowed" in run_python(code, FAST).stderr  # and the tripwire refuses the socket first
    with socket.create_connection(("127.0.0.1", listener), timeout=2):  # reachable from outside the sandbox
        pass


def test_host_filesystem_is_out_of_reach(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret", encoding="utf-8")
    attempts = {"read": f"print(open({str(secret)!r}).read())",
                "write": f"open({str(tmp_path / 'planted.txt')!r}, 'w').write('x')",
                "write-etc": "open('/etc/planted', 'w').write('x')",
                "write-stdlib": "import os\nopen(os.__file__, 'a').write('x')",
                "remove": f"import os\nos.remove({str(secret)!r})",
                "list": f"import os\nprint(os.listdir({str(tmp_path)!r}))"}
    for name, code in attempts.items():
        r = run_python(code, audit=False)
        assert not r.ok, name
        assert "s3cret" not in r.stdout and "secret.txt" not in r.stdout, name
    assert not (tmp_path / "planted.txt").exists() and secret.exists()
    r = run_python("open('mine.txt', 'w').write('ok')\nprint(open('mine.txt').read())", audit=False)
    assert r.ok and r.stdout.strip() == "ok"  # its own scratch directory is writable


def test_installed_packages_and_scenarios_are_masked() -> None:
    """Neither emoscope (with its hidden tests) nor any other installed package can be read from inside."""
    data = resources.files("emoscope") / "data" / "experiments" / "behaviour" / "reward_hacking.jsonl"
    code = (f"import os, sys\nprint('file', os.path.exists({str(data)!r}))\n"
            "print('dirs', [os.listdir(p) for p in sys.path if os.path.isdir(p) and 'site-packages' in p])\n"
            "for m in ('emoscope', 'numpy', 'torch'):\n    try:\n        __import__(m)\n        print('imported', m)\n"
            "    except ImportError:\n        pass")
    r = run_python(code, audit=False)
    assert r.ok and "file False" in r.stdout and "imported" not in r.stdout
    assert all(d == [] for d in eval(r.stdout.split("dirs ", 1)[1].splitlines()[0]))


def test_no_proc_no_environment_no_other_processes() -> None:
    code = ("import os\nprint(os.path.exists('/proc'), sorted(os.environ))\n"
            "try:\n    print(open('/proc/1/cmdline').read())\nexcept OSError as e:\n    print('refused', e.errno)")
    r = run_python(code, audit=False)
    assert r.ok and r.stdout.splitlines()[0] == "False ['LANG', 'PATH', 'PWD']" and "refused" in r.stdout


def test_processes_stay_inside_and_die_with_the_run() -> None:
    """Without the tripwire a child process can start, but sees the same walls and is killed with the run."""
    code = ("import subprocess\nprint(subprocess.run(['/bin/sh', '-c', 'cat /etc/hostname; echo $$'],"
            " capture_output=True, text=True).stdout)\n"
            "subprocess.Popen(['/bin/sleep', '300'])\nprint('started')")
    r = run_python(code, FAST, audit=False)
    assert "started" in r.stdout
    leftover = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p) == "/bin/sleep\x00300\x00"]
    assert leftover == []


def _cmdline(p: Path) -> str:
    try:
        return (p / "cmdline").read_text()
    except OSError:
        return ""


@pytest.mark.parametrize("code", ["import os\nos.system('true')", "import subprocess\nsubprocess.run(['true'])",
                                  "import os\nos.fork()", "import ctypes\nctypes.CDLL(None)",
                                  "import gc\ngc.get_objects()"])
def test_the_tripwire_refuses_processes_native_code_and_heap_walks(code: str) -> None:
    r = run_python(code, FAST)
    assert not r.ok and "not allowed" in r.stderr


def test_the_tripwire_has_no_state_to_clear() -> None:
    """The old hook read a module global (``_BLOCKED``) that the code could clear; this one closes over a
    frozenset: clearing every set reachable from ``__main__`` changes nothing."""
    code = ("import sys\nfor v in list(vars(sys.modules['__main__']).values()):\n"
            "    if isinstance(v, set):\n        v.clear()\n"
            "import os\nos.fork()\nprint('forked')")
    r = run_python(code, FAST)
    assert "forked" not in r.stdout and "not allowed" in r.stderr


def test_refuses_to_run_without_bubblewrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "_PROBED", None)
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        run_python("print(1)")
    monkeypatch.setattr(sandbox, "_PROBED", None)  # probed again for the next test


def test_the_parent_is_not_limited() -> None:
    """The limits apply inside the sandbox only (no preexec_fn runs in the parent's forked child)."""
    before = resource.getrlimit(resource.RLIMIT_AS)
    run_python("print(1)", Limits(memory_bytes=128 * 1024 ** 2))
    assert resource.getrlimit(resource.RLIMIT_AS) == before

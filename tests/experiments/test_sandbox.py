"""Each limit of the code sandbox, proven: time, memory, network, filesystem, processes; each operating-system
layer also alone (without the audit hook), where this machine has it."""

from __future__ import annotations

import signal
import socket
import threading
from pathlib import Path

import pytest

from emoscope.experiments.sandbox import Limits, landlock_abi, run_python, run_tests
from helpers import full_sandbox_expected, sandbox_layers_available

FAST = Limits(wall_seconds=3.0, cpu_seconds=2)


def test_runs_code_and_reports_isolation() -> None:
    r = run_python("import math\nprint(math.factorial(5))")
    assert r.ok and r.stdout.strip() == "120"
    assert [r.network, r.filesystem] == sandbox_layers_available()  # every layer this machine offers
    if full_sandbox_expected():
        assert [r.network, r.filesystem] == ["namespace", "landlock"]


@pytest.mark.parametrize("code", ["while True: pass", "import time\ntime.sleep(60)\nprint('finished')"])
def test_time_limit(code: str) -> None:
    r = run_python(code, FAST)
    assert not r.ok and "finished" not in r.stdout
    if "sleep" in code:  # uses no CPU: only the wall-clock limit can stop it
        assert r.timed_out and r.returncode is None
    else:  # killed at the wall clock, or by the kernel at the CPU limit (SIGXCPU, then SIGKILL)
        assert r.timed_out or r.returncode in (-signal.SIGXCPU, -signal.SIGKILL)


def test_memory_limit() -> None:
    r = run_python("x = bytearray(3 * 1024 ** 3)\nprint('allocated')", Limits(memory_bytes=256 * 1024 ** 2))
    assert not r.ok and "allocated" not in r.stdout and "MemoryError" in r.stderr


def test_output_is_capped() -> None:
    r = run_python("print('x' * 10 ** 6)", Limits(output_bytes=1000))
    assert len(r.stdout) == 1000


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


CONNECT = ("import socket\ns = socket.socket()\ns.settimeout(2)\n"
           "print('code', s.connect_ex(('127.0.0.1', {port})))")


def test_network_is_refused(listener: int) -> None:
    r = run_python(CONNECT.format(port=listener), FAST)
    assert "code 0" not in r.stdout and "not allowed" in r.stderr
    # the listener itself is reachable from outside the sandbox
    with socket.create_connection(("127.0.0.1", listener), timeout=2):
        pass


def test_network_namespace_alone(listener: int) -> None:
    r = run_python(CONNECT.format(port=listener), FAST, audit=False)
    if r.network != "namespace":
        pytest.skip("no network namespaces on this machine: the audit hook is the only network layer here")
    assert r.ok and "code 0" not in r.stdout and "code" in r.stdout


def _outside(tmp_path: Path) -> dict[str, str]:
    secret = tmp_path / "secret.txt"
    secret.write_text("s3cret", encoding="utf-8")
    return {"read": f"print(open({str(secret)!r}).read())",
            "write": f"open({str(tmp_path / 'planted.txt')!r}, 'w').write('x')",
            "remove": f"import os\nos.remove({str(secret)!r})",
            "list": f"import os\nprint(os.listdir({str(tmp_path)!r}))",
            "inside": "open('mine.txt', 'w').write('ok')\nprint(open('mine.txt').read())"}


@pytest.mark.parametrize("audit", [True, False])
def test_filesystem_outside_the_temporary_directory(tmp_path: Path, audit: bool) -> None:
    if not audit and landlock_abi() == 0:
        pytest.skip("no Landlock on this machine: the audit hook is the only filesystem layer here")
    code = _outside(tmp_path)
    r = run_python(code["read"], audit=audit)
    assert "s3cret" not in r.stdout and "PermissionError" in r.stderr
    r = run_python(code["write"], audit=audit)
    assert not (tmp_path / "planted.txt").exists() and "PermissionError" in r.stderr
    run_python(code["remove"], audit=audit)
    assert (tmp_path / "secret.txt").exists()
    r = run_python(code["list"], audit=audit)
    assert "secret.txt" not in r.stdout
    r = run_python(code["inside"], audit=audit)
    assert r.ok and r.stdout.strip() == "ok"  # its own temporary directory is writable


def test_the_audit_hook_cannot_be_fooled_past_landlock(tmp_path: Path) -> None:
    if landlock_abi() == 0:
        pytest.skip("no Landlock on this machine")
    target = tmp_path / "planted.txt"
    code = ("import os, os.path\nos.path.realpath = lambda p: os.getcwd() + '/x'\n"
            f"open({str(target)!r}, 'w').write('x')")
    r = run_python(code)
    assert not target.exists() and "PermissionError" in r.stderr


@pytest.mark.parametrize("code", ["import os\nos.system('echo hi > /tmp/x')", "import subprocess\n"
                                  "subprocess.run(['true'])", "import os\nos.fork()", "import ctypes\n"
                                  "ctypes.CDLL(None)"])
def test_processes_and_native_code_are_refused(code: str) -> None:
    r = run_python(code, FAST)
    assert not r.ok and "not allowed" in r.stderr


def test_run_tests_counts_each_assert() -> None:
    res = run_tests("def add(a, b):\n    return a + b", "assert add(1, 2) == 3\nassert add(1, 1) == 3\n")
    assert (res["passed"], res["total"], res["error"]) == (1, 2, False)
    res = run_tests("def add(a, b) return", "assert add(1, 2) == 3")
    assert res["error"] and res["passed"] == 0
    res = run_tests("while True: pass", "assert True", FAST)
    assert res["error"] and res["passed"] == 0  # stopped by the CPU or the wall-clock limit

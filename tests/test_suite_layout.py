"""The suite's own rules: test modules share code through tests/helpers.py (and tests/browser.py), never by
importing one another (an import of a test module runs its module-level code and can collect its tests twice);
and with EMOSCOPE_REQUIRE_BROWSER=1, as in CI, a browser test cannot pass by skipping."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent


def _is_test_module(dotted: str) -> bool:
    return any(part.startswith("test_") or part == "conftest" for part in dotted.split("."))


def imports_of_test_modules(source: str) -> list[str]:
    """The imports in ``source`` (at any depth, including inside functions) that name a test module
    (``test_*``) or a conftest, as written."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if _is_test_module(a.name)]
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            if _is_test_module(module):
                found.append(module)
            else:
                sep = "" if module.endswith(".") else "."
                found += [f"{module}{sep}{a.name}" for a in node.names if _is_test_module(a.name)]
    return found


def test_the_scan_finds_every_form_of_import() -> None:
    src = ("import reading.test_monitor\nfrom server.test_api import MSGS\nfrom server import test_api\n"
           "from . import test_x\ndef f():\n    import conftest\n"
           "import helpers\nfrom helpers import random_bank\nfrom emoscope.experiments import sandbox\n")
    assert imports_of_test_modules(src) == ["reading.test_monitor", "server.test_api", "server.test_api",
                                            ".test_x", "conftest"]


def test_no_test_module_imports_another() -> None:
    offenders = {str(p.relative_to(TESTS)): found for p in sorted(TESTS.rglob("*.py"))
                 if (found := imports_of_test_modules(p.read_text(encoding="utf-8")))}
    assert not offenders, f"move the shared code into tests/helpers.py and import it from there: {offenders}"


PROBE = """
import pytest

from browser import page


def _render() -> None:
    with page("about:blank"):
        pass


def test_browser_skipped_early() -> None:
    pytest.skip("skipped before reaching the browser")
    _render()


def test_not_a_browser_test() -> None:
    pytest.skip("an ordinary skip")
"""


@pytest.mark.parametrize("required", ["1", "0"])
def test_a_skipped_browser_test_fails_when_the_browser_is_required(tmp_path: Path, required: str) -> None:
    for name in ("conftest.py", "browser.py", "helpers.py"):
        shutil.copy(TESTS / name, tmp_path / name)
    (tmp_path / "test_probe.py").write_text(PROBE, encoding="utf-8")
    env = {**os.environ, "EMOSCOPE_REQUIRE_BROWSER": required}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "--rootdir",
                        str(tmp_path), str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=300)
    if required == "1":
        assert r.returncode == 1, r.stdout + r.stderr
        assert "1 failed, 1 skipped" in r.stdout and "requires every browser test to run" in r.stdout
    else:
        assert r.returncode == 0 and "2 skipped" in r.stdout, r.stdout + r.stderr

"""The import contract: ``emoscope.model`` is the one room that imports torch and transformers.

Two checks: no module outside ``emoscope/model/`` names torch, transformers or accelerate in any import (also
inside functions), and every module that does not run a model imports with those packages blocked.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "emoscope"
HEAVY = ("torch", "transformers", "accelerate")
# Modules that run a model: they call into emoscope.model (so they load torch), but import nothing heavy themselves.
RUNS_MODEL = {
    "emoscope.read", "emoscope.monitor", "emoscope.extraction", "emoscope.scan", "emoscope.validation.run",
    "emoscope.experiments.preferences", "emoscope.experiments.steering_check", "emoscope.experiments.behaviour",
    "emoscope.server.app", "emoscope.runners",
}


def _modules() -> list[str]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def _heavy_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        found += [f"{path.name}:{node.lineno} {n}" for n in names if n.split(".")[0] in HEAVY]
    return found


def test_only_the_model_room_imports_torch() -> None:
    offenders = [hit for path in sorted(SRC.rglob("*.py")) if "model" not in path.relative_to(SRC).parts[:1]
                 for hit in _heavy_imports(path)]
    assert offenders == []


def test_the_contract_test_sees_an_offender(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    import torch.nn as nn\n    from transformers import AutoModel\n")
    assert len(_heavy_imports(bad)) == 2


def test_torch_free_modules_import_with_torch_blocked() -> None:
    free = [m for m in _modules() if not m.startswith("emoscope.model") and m not in RUNS_MODEL]
    assert "emoscope.readings" in free and "emoscope.core.scores" in free and "emoscope.steering" in free
    code = ("import importlib, sys\n"
            f"for name in {HEAVY!r}:\n    sys.modules[name] = None\n"
            f"for m in {free!r}:\n    importlib.import_module(m)\n"
            "print('ok', len(sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("ok")


def test_rooms_that_run_a_model_exist() -> None:
    assert RUNS_MODEL <= set(_modules())

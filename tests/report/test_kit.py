"""The report kit itself: escaping, strict templates, safe JSON in scripts, assets that cannot break out of their
element, package data that ships every template and asset (checked on a real install), and no torch."""

from __future__ import annotations

import doctest
import fnmatch
import importlib
import os
import shutil
import subprocess
import sys
import tomllib
from importlib.resources import files
from pathlib import Path

import jinja2
import pytest

from emoscope.report import render
from emoscope.report.templating import asset, environment

ROOT = Path(__file__).resolve().parents[2]
KIT = ["emoscope.report", "emoscope.report.templating", "emoscope.report.format", "emoscope.report.figures",
       "emoscope.report.files", "emoscope.report.plots.validation", "emoscope.report.plots.behaviour",
       "emoscope.report.plots.preferences"]


@pytest.mark.parametrize("name", KIT)
def test_docstring_examples(name: str) -> None:
    assert doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS).failed == 0


def test_autoescape_and_strict_undefined() -> None:
    assert render("snippet.html", text="<b>&") == "<p>&lt;b&gt;&amp;</p>"
    with pytest.raises(jinja2.UndefinedError):
        render("snippet.html")


def test_tojson_data_cannot_close_its_script() -> None:
    out = environment().from_string('{% import "macros.html" as m %}{{ m.data("d", x) }}').render(
        x={"t": "</script><script>alert(1)</script>", "a": "&'"})
    assert out.lower().count("</script") == 1 and "\\u003c/script\\u003e" in out


def test_tables_format_numbers_like_the_pages_always_did() -> None:
    out = environment().from_string('{% import "macros.html" as m %}{{ m.table(h, rows) }}').render(
        h=["a<", "b"], rows=[[0.5, float("nan")], [3, None], ["x&y", True]])
    assert out == ("<table><tr><th>a&lt;</th><th>b</th></tr><tr><td class=\"n\">0.500</td><td class=\"n\">n/a</td>"
                   "</tr><tr><td class=\"n\">3</td><td>None</td></tr><tr><td>x&amp;y</td><td class=\"n\">True</td>"
                   "</tr></table>")


def test_assets_are_refused_when_they_could_break_out(monkeypatch: pytest.MonkeyPatch) -> None:
    import emoscope.report.templating as r

    for name in ("../render.py", "/etc/passwd", "common.txt"):
        with pytest.raises((ValueError, FileNotFoundError)):
            asset(name)
    monkeypatch.setattr(r, "_read", lambda _folder, _name: "let s = '</SCRIPT>';")
    with pytest.raises(ValueError, match="break out"):
        r.asset.__wrapped__("evil.js")


def test_every_template_and_asset_is_declared_package_data() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["emoscope"]
    kit = files("emoscope.report")
    shipped = [f"report/{folder}/{p.name}" for folder in ("templates", "assets") for p in kit.joinpath(folder).iterdir()
               if p.is_file()]
    assert len(shipped) >= 10
    for name in shipped:
        assert any(fnmatch.fnmatch(name, g) for g in globs), f"{name} is not in [tool.setuptools.package-data]"
    for name in shipped:  # and every asset is safe to inline
        if name.startswith("report/assets/"):
            asset(name.rsplit("/", 1)[1])


def test_the_kit_imports_no_torch() -> None:
    code = ("import sys; import emoscope.report, emoscope.report.plots.validation, emoscope.report.plots.behaviour, "
            "emoscope.report.plots.preferences; emoscope.report.render('snippet.html', text='x'); "
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'torch imported'")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


def test_pages_render_from_an_installed_package(tmp_path: Path) -> None:
    """Install the project (no dependencies, no network) into a folder and render every page from there."""
    pytest.importorskip("setuptools")
    src = tmp_path / "project"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(src)], check=True, timeout=300,
                   stdout=subprocess.DEVNULL)
    shutil.rmtree(src)  # only the installed copy is left to read templates from
    code = ("import emoscope.report as k, sys; assert k.__file__.startswith(sys.argv[1]), k.__file__\n"
            "from report.pages import PAGES\n"
            "for name, make in PAGES.items():\n"
            "    assert make(False).startswith('<!doctype html>'), name\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT / "tests")])}
    subprocess.run([sys.executable, "-c", code, str(target)], check=True, env=env, timeout=300)


PAGE_MODULES = ["validation/report.py", "experiments/behaviour_report.py", "experiments/preferences_report.py",
                "views/reading_html.py", "views/scan_html.py", "server/dashboard.py"]


def test_page_modules_share_only_the_kit() -> None:
    """No page module imports another page module, or anything private of another module; none holds CSS or JS."""
    import ast

    src = ROOT / "src" / "emoscope"
    pages = {"emoscope." + p.removesuffix(".py").replace("/", ".") for p in PAGE_MODULES}
    for rel in PAGE_MODULES:
        text = (src / rel).read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert node.module not in pages, (rel, node.module)
                assert not [a.name for a in node.names if a.name.startswith("_")], (rel, node.module)
        assert "<style" not in text and "<script" not in text and "function " not in text, rel

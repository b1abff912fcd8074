"""The jinja2 environment of the pages: templates and assets read from this package with importlib.resources.

Autoescape is on for every template and an undefined name is an error. Assets (``.css``, ``.js``) are inlined
by the templates through :func:`asset`, :func:`styles` and :func:`scripts`; an asset that could close its own
``<style>`` or ``<script>`` element is refused.

Example:
    >>> render("snippet.html", text="</script><script>alert(1)</script>")
    '<p>&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;</p>'
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import jinja2
from markupsafe import Markup

from emoscope.report.format import fmt, is_number, num

_CLOSERS = {".css": "</style", ".js": "</script"}


def _read(folder: str, name: str) -> str:
    if not name or name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/"):
        raise ValueError(f"bad resource name {name!r}")
    return files("emoscope.report").joinpath(folder, name).read_text(encoding="utf-8")


@cache
def asset(name: str) -> str:
    """The text of an asset shipped in ``emoscope/report/assets`` (e.g. ``"report.css"``).

    Example:
        >>> "font" in asset("report.css")
        True
    """
    text = _read("assets", name)
    closer = next((c for ext, c in _CLOSERS.items() if name.endswith(ext)), None)
    if closer is None:
        raise ValueError(f"assets are .css or .js files, not {name!r}")
    if closer in text.lower() or "<!--" in text:
        raise ValueError(f"asset {name!r} contains {closer!r} or '<!--': it would break out of its element")
    return text


def styles(*names: str) -> Markup:
    """One ``<style>`` element with the named CSS assets, in order (used by the base template).

    Example:
        >>> str(styles("report.css")).startswith("<style>")
        True
    """
    return Markup("<style>\n" + "\n".join(asset(n) for n in names) + "</style>")


def scripts(*names: str) -> Markup:
    """One ``<script>`` element with the named JavaScript assets, in order.

    Example:
        >>> str(scripts("common.js")).startswith("<script>")
        True
    """
    return Markup("<script>\n" + "\n".join(asset(n) for n in names) + "</script>")


def _load(name: str) -> str:
    return _read("templates", name)


@cache
def environment() -> jinja2.Environment:
    """The shared environment (built once): autoescape, StrictUndefined, the kit's filters and globals.

    Example:
        >>> environment().autoescape
        True
    """
    env = jinja2.Environment(loader=jinja2.FunctionLoader(_load), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = num
    env.filters["fmt"] = fmt
    env.tests["number"] = is_number  # replaces jinja's own: Python ints and floats only, as the tables expect
    env.globals.update(styles=styles, scripts=scripts)
    # ``tojson`` escapes <, >, & and ' so embedded data cannot end its <script>; keep the keys' order.
    env.policies["json.dumps_kwargs"] = {"sort_keys": False, "separators": (",", ":")}
    return env


def render(template_name: str, /, **context: Any) -> str:
    """Render a template of ``emoscope/report/templates`` with ``context`` (plain data) to a page string.

    Example:
        >>> render("snippet.html", text="a & b")
        '<p>a &amp; b</p>'
    """
    return environment().get_template(template_name).render(**context)

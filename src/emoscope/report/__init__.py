"""The report kit: every HTML page emoscope writes or serves is rendered here, self-contained.

One jinja2 environment (autoescape on, undefined names are errors) loads the templates and assets shipped
inside this package; CSS and JavaScript are inlined, figures become data URIs and data for scripts is embedded
with ``tojson`` (``<`` escaped, so no text can close the script). No torch here: numpy, matplotlib, jinja2.

Templates (``templates/``): ``base.html`` (the frame), ``report.html`` (result pages), ``macros.html`` (table,
figure, cards, provenance line, script data), and one per page: ``validation.html``, ``preferences.html``,
``behaviour.html``, ``reading.html``, ``scan.html``, ``dashboard.html``. Assets (``assets/``): ``report.css``
for the result pages; ``app.css`` and ``common.js`` for the interactive ones, plus each page's own ``.css``/``.js``.
A page module prepares plain data and calls :func:`render`; its figures come from ``emoscope.report.plots``.

Example:
    >>> from emoscope.report import render
    >>> "<b>" in render("snippet.html", text="<b>")
    False
"""

from __future__ import annotations

from emoscope.report.figures import figure_uri, pyplot
from emoscope.report.files import json_safe, write_result_files
from emoscope.report.templating import asset, render

__all__ = ["asset", "figure_uri", "json_safe", "pyplot", "render", "write_result_files"]

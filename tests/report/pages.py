"""Every page of emoscope rendered from small recorded data (tests/report/data, from runs on tiny models), with
one emotion's name, the model's name and the free texts optionally replaced by a hostile string."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).parent / "data"
# Closes a <script>, opens one, and tries an element with an event handler: escaped, none of it may run.
EVIL = ("</script><script>document.body.dataset.pwned='1'</script>"
        "<img src=x onerror=\"document.body.dataset.pwned='1'\">&amp;")
RENAMED = "calm"  # the emotion renamed to EVIL in the adversarial pages


def load(name: str, evil: bool = False) -> Any:
    """A recorded input; with ``evil`` the emotion ``calm`` and the model are renamed to EVIL everywhere."""
    text = (DATA / f"{name}.json").read_text(encoding="utf-8")
    if evil:
        text = text.replace(json.dumps(RENAMED), json.dumps(EVIL)).replace('"tiny-llama"', json.dumps(EVIL))
    return json.loads(text)


def validation(evil: bool = False) -> str:
    from emoscope.validation.report import render_html

    d = load("validation", evil)
    f = d["figures"]
    figures = {"sim": np.asarray(f["sim"]), "order": f["order"],
               "pca_default": {"scores": np.asarray(f["pca_default"]["scores"]),
                               "explained": np.asarray(f["pca_default"]["explained"])}}
    if evil:
        d["metrics"]["command"] = EVIL
        d["metrics"]["geometry"]["judged"]["source"] = EVIL
    return render_html(d["metrics"], figures)


def behaviour(evil: bool = False) -> str:
    from emoscope.experiments.behaviour_report import render_behaviour

    res = load("behaviour", evil)
    if evil:
        for r in res["rollouts"]:
            r["replies"] = [EVIL + rep for rep in r["replies"]]
            r["labels"][EVIL] = True
    return render_behaviour(res)


def preferences(evil: bool = False) -> str:
    from emoscope.experiments.preferences_report import render_preferences

    res = load("preferences", evil)
    if evil:
        res["question"] = res["feeling_question"] = EVIL
        res["activities"][0]["activity"] = EVIL
        res["category_elo"][EVIL] = 1500.0
    return render_preferences(res)


def scan(evil: bool = False) -> str:
    from emoscope.views.scan_html import scan_html

    d = load("scan", evil)
    if evil:
        for e in d["emotions"]:
            for s in e["top"]:
                s["before"], s["peak"], s["id"] = EVIL + s["before"], EVIL, EVIL
    return scan_html(d, title=EVIL if evil else "emoscope scan", focus=EVIL if evil else None)


def reading_input(evil: bool = False) -> Any:
    from emoscope.read import Reading

    names = ["afraid", EVIL if evil else RENAMED, "happy"]
    tokens = ["<s>", "Hi", " there", EVIL if evil else " <fine>", " &", " ok"]
    scores = np.random.default_rng(0).normal(size=(len(tokens), 3))
    roles = ["user", "user", "user", EVIL if evil else "assistant", "assistant", "assistant"]
    return Reading(emotions=names, layer=2, kind="z", tokens=tokens, offsets=[(0, 0)] * len(tokens),
                   scores=scores, roles=roles, turns=[0, 0, 0, 1, 1, 1])


def reading(evil: bool = False) -> str:
    from emoscope.views.reading_html import reading_html

    r = reading_input(evil)
    return reading_html([r, r], title=EVIL if evil else "emoscope reading", model=EVIL if evil else "tiny-llama",
                        tint=r.emotions[1], plot=r.emotions, titles=[EVIL, "b"] if evil else None)


def dashboard(evil: bool = False) -> str:
    from emoscope.server.dashboard import dashboard_html

    return dashboard_html(EVIL if evil else "tiny-llama", 3, report=True,
                          steerable=["happy", EVIL] if evil else None, alerts=[EVIL] if evil else None)


PAGES: dict[str, Callable[[bool], str]] = {"validation": validation, "behaviour": behaviour,
                                           "preferences": preferences, "scan": scan, "reading": reading,
                                           "dashboard": dashboard}
# The figures (<img>) each page holds with this data.
IMAGES = {"validation": 8, "behaviour": 3, "preferences": 2, "scan": 0, "reading": 0, "dashboard": 0}

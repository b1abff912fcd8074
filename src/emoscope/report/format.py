"""Number formatting shared by the templates (registered as jinja filters and tests).

Example:
    >>> num(0.12345), num(float("nan")), num(None), num(7), fmt(0.5, "+.2f")
    ('0.123', 'n/a', 'n/a', '7', '+0.50')
"""

from __future__ import annotations

import math
from typing import Any


def num(x: Any, digits: int = 3) -> str:
    """A float with ``digits`` decimals, ``n/a`` for None and non-finite floats, anything else as ``str``.

    Example:
        >>> num(2.0, 1)
        '2.0'
    """
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def fmt(x: Any, spec: str) -> str:
    """``format(x, spec)``: Python's format mini-language in a template (``{{ x|fmt(",") }}``).

    Example:
        >>> fmt(49152, ",")
        '49,152'
    """
    return format(x, spec)


def is_number(x: Any) -> bool:
    """True for Python ints and floats (numbers right-aligned in a table cell); bools count, as ints.

    Example:
        >>> is_number(3), is_number("3"), is_number(None)
        (True, False, False)
    """
    return isinstance(x, int | float)

"""How numbers are written in tables, on the terminal and in the report: one rule for both."""

from __future__ import annotations

import math
from typing import Any


def no_nan(obj: Any) -> Any:
    """``obj`` with every NaN float (not JSON, and never a value to show) replaced by None, recursively.

    >>> no_nan({"mae": float("nan"), "n": [1.0, float("nan")]})
    {'mae': None, 'n': [1.0, None]}
    """
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: no_nan(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [no_nan(v) for v in obj]
    return obj


def fmt(value: Any, digits: int = 1) -> str:
    """A table cell: floats rounded to ``digits``, None and NaN as '—', sequences comma-joined.

    >>> fmt(250.317), fmt(None), fmt(float("nan")), fmt(0.0251, 3), fmt((1, 2))
    ('250.3', '—', '—', '0.025', '1,2')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def fmt_number(value: Any, unit: str = "") -> str:
    """A value in running text: one decimal from 1 up, three significant digits below, with its unit;
    None and non-finite as '—'.

    >>> fmt_number(18.2456, " mAh/g"), fmt_number(0.123456), fmt_number(float("nan")), fmt_number(3)
    ('18.2 mAh/g', '0.123', '—', '3')
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.1f}{unit}" if abs(value) >= 1 else f"{value:.3g}{unit}"
    return str(value)

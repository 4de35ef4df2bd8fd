"""Rendering command output: aligned tables with units in headers, or JSON."""
from __future__ import annotations

import json
import math
from typing import Any, Sequence

import click


def fmt(value: Any, digits: int = 1) -> str:
    """A cell: floats rounded, None as '—'."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str], digits: Sequence[int] | None = None) -> str:
    """Plain aligned text table."""
    digits = digits or [1] * len(headers)
    cells = [[fmt(v, d) for v, d in zip(r, digits)] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    out = [line(headers), "  ".join("-" * w for w in widths)] + [line(r) for r in cells]
    return "\n".join(out)


def echo_json(obj: Any) -> None:
    """Print JSON; NaN (not JSON, and never a metric to show) becomes null."""
    click.echo(json.dumps(_no_nan(obj), indent=2, default=_default))


def _no_nan(obj: Any) -> Any:
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _no_nan(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_no_nan(v) for v in obj]
    return obj


def _default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "isoformat"):
        return o.isoformat()
    return str(o)

"""Rendering command output: aligned tables with units in headers, or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from drxlab.formatting import fmt, no_nan


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str], digits: Sequence[int] | None = None) -> str:
    """Plain aligned text table."""
    digits = digits or [1] * len(headers)
    cells = [[fmt(v, d) for v, d in zip(r, digits)] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    line = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    out = [line(headers), "  ".join("-" * w for w in widths)] + [line(r) for r in cells]
    return "\n".join(out)


def echo_json(obj: Any) -> None:
    """Print JSON; NaN (not JSON, and never a metric to show) becomes null."""
    click.echo(json.dumps(no_nan(obj), indent=2, default=_default))


def _default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if hasattr(o, "isoformat"):
        return o.isoformat()
    return str(o)

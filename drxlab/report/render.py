"""Render a :class:`~drxlab.report.data.ReportData` as one self-contained HTML file or Markdown.

Both formats are written from the same list of blocks (headings, paragraphs, notes, figures,
tables), so they show the same numbers. HTML embeds every figure as a base64 PNG data URI and
carries its own CSS (no external file, font, script or network access); Markdown writes the
figures as PNG files in a folder beside the ``.md`` file and links them relatively.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drxlab.formatting import fmt
from drxlab.report.data import ReportData
from drxlab.report.figures import report_figures
from drxlab.workflow.metrics import ModelMetrics

FORMATS = ("html", "md")
HEADINGS = {
    "progress": "1. Progress: best measured value by round",
    "parity": "2. Prospective parity: predicted at suggestion vs measured",
    "calibration": "3. Calibration of σ",
    "curves": "4. Discharge curves: measured vs predicted",
    "space": "5. Composition space",
    "tables": "6. Tables",
}
IDEAL_1SIGMA, IDEAL_2SIGMA = 68.3, 95.4  # % of a normal distribution within 1σ / 2σ
CSS = """
body{font-family:sans-serif;max-width:1100px;margin:1.5em auto;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.8em}
h3{font-size:1.05em}table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}.note{background:#fff7e0;border-left:4px solid #e0a800;
padding:.4em .7em}img{max-width:100%}.summary{color:#444}
"""


@dataclass(frozen=True)
class Block:
    """One element of the document: kind is h1 | h2 | h3 | p | note | figure | table."""

    kind: str
    text: str = ""
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f} %"


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], digits: Sequence[int] | None = None
) -> Block:
    digits = list(digits or [1] * len(headers))
    return Block(
        "table", headers=tuple(headers), rows=tuple(tuple(fmt(v, d) for v, d in zip(r, digits)) for r in rows)
    )


def blocks(data: ReportData, figures: dict[str, bytes]) -> list[Block]:
    """The document, section by section; figures missing from ``figures`` become notes."""
    o, u = data.objective, data.unit
    out = [Block("h1", f"Campaign report: {data.campaign}")]
    if data.description:
        out.append(Block("p", data.description))
    tested = sum(r.measured is not None for r in data.samples)
    best = max((r.measured for r in data.samples if r.measured is not None), default=None)
    out.append(
        Block(
            "p",
            f"Revision(s) {', '.join(map(str, data.revisions))}. Primary objective {o.name!r} "
            f"({o.kind}, {u}) at {o.rate:g} mA/g, {o.window[0]:g}–{o.window[1]:g} V, cycle {o.cycle}. "
            f"{len(data.samples)} samples: {sum(r.suggested for r in data.samples)} suggested, "
            f"{tested} measured, {sum(r.status == 'failed' for r in data.samples)} failed. "
            f"Best measured: {fmt(best)} {u}; prospective MAE: {fmt(data.mae)} {u}.",
        )
    )

    def section(key: str, *figs: str) -> None:
        out.append(Block("h2", HEADINGS[key]))
        out.extend(Block("note", n) for n in data.notes.get(key, ()))
        for name in figs:
            if name in figures:
                out.append(Block("figure", name))

    section("progress", "progress")
    if data.rounds:
        out.append(
            _table(
                [
                    "round",
                    "suggested",
                    "tested",
                    "failed",
                    f"best this round ({u})",
                    f"best so far ({u})",
                    f"predicted best ({u})",
                ],
                [
                    (
                        r.round,
                        r.suggested,
                        r.tested,
                        r.failed,
                        r.best_measured,
                        r.best_so_far,
                        r.predicted_best,
                    )
                    for r in data.rounds
                ],
            )
        )
    section("parity", "parity")
    if data.compared:
        out.append(
            Block(
                "p",
                f"Overall MAE {fmt(data.mae)} {u} over {len(data.compared)} suggested and measured "
                "samples (prediction recorded when each was suggested).",
            )
        )
        out.append(
            _table(
                ["round", "compared", f"MAE ({u})"],
                [(r.round, r.compared, r.mae) for r in data.rounds if r.compared],
            )
        )
    section("calibration", "calibration")
    if data.coverage:
        out.append(
            _table(
                [
                    "model version",
                    "n",
                    "within 1σ_Q (raw)",
                    "within 2σ_Q (raw)",
                    "n calibrated",
                    "within 1σ (calibrated)",
                    "within 2σ (calibrated)",
                    "ideal",
                ],
                [
                    (
                        f"v{c.model_version}" if c.model_version is not None else "all",
                        c.n,
                        pct(c.within_1sigma),
                        pct(c.within_2sigma),
                        c.n_calibrated,
                        pct(c.within_1sigma_calibrated),
                        pct(c.within_2sigma_calibrated),
                        f"{IDEAL_1SIGMA:.0f} % / {IDEAL_2SIGMA:.0f} %",
                    )
                    for c in data.coverage
                ],
            )
        )
    section("curves", "curves")
    section("space", "space", "pareto")
    if data.pareto is not None:
        pa = data.pareto
        front = [i for i, f in enumerate(pa.front) if f]
        out.append(Block("h3", "Pareto front of the suggestions' predicted objectives"))
        out.append(
            _table(
                ["sample", "round", *(f"{n} ({un})" for n, un in zip(pa.names, pa.units))],
                [(pa.sample_ids[i], pa.rounds[i], *map(float, pa.points[i])) for i in front],
                [0, 0, *[3 if un == "ratio" else 1 for un in pa.units]],
            )
        )
    section("tables")
    out.append(Block("h3", "Suggestions and samples"))
    if data.samples:
        out.append(
            _table(
                [
                    "sample",
                    "round",
                    "rank",
                    "formula",
                    "class",
                    "status",
                    "model",
                    f"predicted ({u})",
                    f"σ ({u})",
                    f"measured ({u})",
                    "basis",
                    f"error ({u})",
                    "z",
                    "domain",
                ],
                [
                    (
                        r.sample_id,
                        r.round,
                        r.rank,
                        r.formula,
                        r.klass,
                        r.status,
                        None if r.model_version is None else f"v{r.model_version}",
                        r.predicted,
                        r.sigma,
                        r.measured,
                        r.basis or None,
                        r.error,
                        r.z,
                        r.domain or None,
                    )
                    for r in data.samples
                ],
                [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 1, 2, 0],
            )
        )
    out.append(Block("h3", "Model lineage"))
    if data.lineage:
        out.append(
            _table(
                [
                    "version",
                    "sha256",
                    "source",
                    "parent",
                    "members",
                    "created (UTC)",
                    "rounds used",
                    "suggestions",
                    "current",
                    "metrics",
                ],
                [
                    (
                        v["id"],
                        v["sha256"],
                        v["source"],
                        v["parent"],
                        v["members"],
                        v["created"],
                        ", ".join(map(str, v["rounds"])) or None,
                        v["suggestions"],
                        "yes" if v["current"] else "",
                        metrics_text(v["metrics"]),
                    )
                    for v in data.lineage
                ],
            )
        )
    out.append(Block("h3", "Data inventory"))
    out.append(
        _table(
            [
                "class",
                "materials (campaign)",
                "samples (campaign)",
                "tests (campaign)",
                "profiles (campaign)",
                "materials (store)",
                "tests (store)",
                "profiles (store)",
            ],
            inventory_rows(data.inventory),
        )
    )
    return out


def metrics_text(metrics: dict) -> str | None:
    """A version's recorded metrics as a chemist reads them (see :class:`ModelMetrics`)."""
    return ModelMetrics.from_dict(metrics).text()


def inventory_rows(inv: dict[str, dict[str, dict[str, int]]]) -> list[tuple]:
    camp, store = inv.get("campaign", {}), inv.get("store", {})
    rows = []
    for klass in ("2TM", "3TM", "HE", *sorted((set(camp) | set(store)) - {"2TM", "3TM", "HE"})):
        c, s = camp.get(klass, {}), store.get(klass, {})
        rows.append(
            (
                klass,
                c.get("materials", 0),
                c.get("samples", 0),
                c.get("tests", 0),
                c.get("profiles", 0),
                s.get("materials", 0),
                s.get("tests", 0),
                s.get("profiles", 0),
            )
        )
    rows.append(("all", *[sum(r[i] for r in rows) for i in range(1, 8)]))
    return rows


FIGURE_ALT = {
    "progress": "Best measured value so far vs round and vs number of syntheses",
    "parity": "Predicted at suggestion vs measured, coloured by round, with MAE per round",
    "calibration": "Fraction of measurements within 1 and 2 sigma per model version, and z histogram",
    "curves": "Measured discharge curves against predicted curves with sigma bands",
    "space": "Composition map (element amounts per formula unit): candidates, suggested, tested and "
    "failed samples",
    "pareto": "Pareto front of the suggestions' predicted objectives",
}


def to_html(data: ReportData, figures: dict[str, bytes]) -> str:
    """One self-contained HTML page (figures as data URIs, inline CSS)."""
    e = html.escape
    body = []
    for b in blocks(data, figures):
        if b.kind in ("h1", "h2", "h3"):
            body.append(f"<{b.kind}>{e(b.text)}</{b.kind}>")
        elif b.kind == "p":
            body.append(f'<p class="summary">{e(b.text)}</p>')
        elif b.kind == "note":
            body.append(f'<p class="note">{e(b.text)}</p>')
        elif b.kind == "figure":
            uri = "data:image/png;base64," + base64.b64encode(figures[b.text]).decode("ascii")
            body.append(f'<figure><img alt="{e(FIGURE_ALT[b.text])}" src="{uri}"></figure>')
        elif b.kind == "table":
            head = "".join(f"<th>{e(h)}</th>" for h in b.headers)
            rows = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in b.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>drxlab report: {e(data.campaign)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def to_markdown(data: ReportData, figures: dict[str, bytes], folder: str) -> str:
    """Markdown text whose figures are ``folder/<name>.png`` (relative to the .md file)."""
    lines = []
    for b in blocks(data, figures):
        if b.kind in ("h1", "h2", "h3"):
            lines += ["#" * int(b.kind[1]) + " " + b.text, ""]
        elif b.kind == "p":
            lines += [b.text, ""]
        elif b.kind == "note":
            lines += [f"> **Note.** {b.text}", ""]
        elif b.kind == "figure":
            lines += [f"![{FIGURE_ALT[b.text]}]({folder}/{b.text}.png)", ""]
        elif b.kind == "table":
            cell = lambda c: c.replace("|", "\\|")
            lines += [
                "| " + " | ".join(map(cell, b.headers)) + " |",
                "|" + "|".join("---" if i == 0 else "---:" for i in range(len(b.headers))) + "|",
            ]
            lines += ["| " + " | ".join(map(cell, r)) + " |" for r in b.rows]
            lines.append("")
    return "\n".join(lines)


def write_report(data: ReportData, out: Path, fmt: str = "html") -> list[Path]:
    """Write the report to ``out`` (and, for Markdown, its figures beside it); returns the paths written."""
    if fmt not in FORMATS:
        raise ValueError(f"{fmt=} must be one of {FORMATS}")
    figures = report_figures(data)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "html":
        out.write_text(to_html(data, figures), encoding="utf-8")
        return [out]
    folder = out.parent / f"{out.stem}_files"
    written = []
    if figures:
        folder.mkdir(exist_ok=True)
        for name, img in figures.items():
            (folder / f"{name}.png").write_bytes(img)
            written.append(folder / f"{name}.png")
    out.write_text(to_markdown(data, figures, folder.name), encoding="utf-8")
    return [out, *written]

"""Files of a simulation run: every campaign as JSON, the best-vs-syntheses plot and the
prospective coverage per round (table and plot)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from drxlab.report.figures import coverage_round_plot, simulation_plot
from drxlab.workflow.simulate import POSTERIORS, SimulationResult


def write_outputs(result: SimulationResult, out: Path) -> list[Path]:
    """JSON of every run, a best-vs-syntheses plot (median and range over seeds) and the
    per-round coverage of raw σ_Q and the calibrated σ (CSV and plot)."""
    out.mkdir(parents=True, exist_ok=True)
    js = out / "simulation.json"
    js.write_text(json.dumps(result.as_dict(), indent=2, default=float))
    png = out / "best_vs_syntheses.png"
    simulation_plot(result, png)
    table = out / "coverage_per_round.csv"
    write_coverage_table(result, table)
    cov = out / "coverage_per_round.png"
    coverage_round_plot(result, cov)
    return [js, png, table, cov]


def coverage_rows(result: SimulationResult) -> list[dict]:
    """One row per strategy and round: the share (%) of that round's measurements within 1σ and
    2σ of each posterior's prediction made before it, median over seeds (empty: no figure)."""
    rows = []
    for strat, v in result.summary().items():
        for i, (cov, n) in enumerate(zip(v.coverage_by_round, v.measured_by_round)):
            row: dict = {"strategy": strat, "round": i + 1, "measurements (all seeds)": n}
            for post in POSTERIORS:
                for k in (1, 2):
                    share = cov[k][post]
                    row[f"{post} within {k}σ (%)"] = "" if share is None else round(100 * share, 1)
            rows.append(row)
    return rows


def write_coverage_table(result: SimulationResult, path: Path) -> None:
    rows = coverage_rows(result)
    with path.open("w", newline="") as fh:
        if not rows:
            return
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

"""Files of a simulation run: every campaign as JSON and the best-vs-syntheses plot."""

from __future__ import annotations

import json
from pathlib import Path

from drxlab.report.figures import simulation_plot
from drxlab.workflow.simulate import SimulationResult


def write_outputs(result: SimulationResult, out: Path) -> list[Path]:
    """JSON of every run plus a best-vs-syntheses plot (median and range over seeds)."""
    out.mkdir(parents=True, exist_ok=True)
    js = out / "simulation.json"
    js.write_text(json.dumps(result.as_dict(), indent=2, default=float))
    png = out / "best_vs_syntheses.png"
    simulation_plot(result, png)
    return [js, png]

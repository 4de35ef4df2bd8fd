"""Matplotlib figures (Agg backend, no display needed); axes always carry units, figures a title
that says what was plotted and under which conditions, so a PNG read alone makes sense."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

BAND_LABEL = "ensemble ±1 σ_Q (spread of the members, uncalibrated)"


def wrap_formula(formula: str, width: int) -> str:
    """A formula broken between elements into lines of at most ``width`` characters.

    >>> wrap_formula("Li1.2Mn0.1Mg0.1Cr0.3Ti0.2Nb0.1O1.8F0.2", 20)
    'Li1.2Mn0.1Mg0.1Cr0.3\\nTi0.2Nb0.1O1.8F0.2'
    """
    lines = [""]
    for part in re.findall(r"[A-Z][a-z]?[^A-Z]*", formula) or [formula]:
        if lines[-1] and len(lines[-1]) + len(part) > width:
            lines.append("")
        lines[-1] += part
    return "\n".join(lines)


def curve_plot(
    pred,
    labels: list[str],
    path: str,
    measured: list[tuple[np.ndarray, np.ndarray]] | None = None,
    *,
    conditions: str = "",
) -> None:
    """Predicted Q(V) with its ±σ band per composition (and measured curves if given) → PNG.

    ``conditions`` (e.g. "20 mA/g, 1.5–4.8 V, cycle 1, model version 3") goes in the title with
    the composition(s).
    """
    fig = curve_figure(pred, labels, measured, conditions=conditions)
    fig.savefig(path)
    plt.close(fig)


def curve_figure(
    pred,
    labels: list[str],
    measured: list[tuple[np.ndarray, np.ndarray]] | None = None,
    *,
    conditions: str = "",
):
    """The figure of :func:`curve_plot`."""
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=120)
    for i, label in enumerate(labels):
        v, m, s = pred.voltage[i], pred.q_mean[i], pred.q_std[i]
        (line,) = ax.plot(m, v, label=f"{label}: ensemble mean")
        ax.fill_betweenx(v, m - s, m + s, color=line.get_color(), alpha=0.25, lw=0)
        if measured and i < len(measured) and measured[i] is not None:
            ax.plot(measured[i][1], measured[i][0], "--", color=line.get_color(), label=f"{label}: measured")
    ax.set_xlabel("Discharge capacity Q (mAh/g)")
    ax.set_ylabel("Voltage (V)")
    handles, _ = ax.get_legend_handles_labels()
    band = Patch(color=handles[0].get_color() if len(labels) == 1 else "0.6", alpha=0.25, label=BAND_LABEL)
    ax.legend(handles=[*handles, band], fontsize=7, loc="lower left")
    what = wrap_formula(labels[0], 48) if len(labels) == 1 else f"{len(labels)} compositions"
    ax.set_title(f"Predicted discharge curve: {what}" + (f"\n{conditions}" if conditions else ""), fontsize=9)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- campaign report figures
# Each returns PNG bytes, or None when there is nothing to draw (the report then shows its note).
REPORT_DPI = 100
PANEL_COLUMNS = 4
Z_RANGE = 6.0  # |z| beyond this is drawn in the outermost histogram bins


def png(fig) -> bytes:
    """A figure as PNG bytes (closed afterwards)."""
    import io

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=REPORT_DPI)
    plt.close(fig)
    return buf.getvalue()


def _label(data) -> str:
    return f"{data.objective.name} ({data.unit})"


def _round_colors(rounds) -> dict[int, tuple]:
    rounds = sorted(set(rounds))
    cmap = plt.get_cmap("viridis")
    return {r: cmap(i / max(len(rounds) - 1, 1)) for i, r in enumerate(rounds)}


def _integer_axis(axis) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def progress_figure(data) -> bytes | None:
    """Best measured value so far vs round (with each round's predicted best) and vs syntheses."""
    if not data.rounds:
        return None
    measured = any(r.best_so_far is not None for r in data.rounds)
    fig, axes = plt.subplots(1, 2 if measured else 1, figsize=(10 if measured else 5.5, 3.8), squeeze=False)
    ax = axes[0, 0]
    rnd = [r.round for r in data.rounds]
    pts = [(r.round, r.measured) for r in data.samples if r.measured is not None]
    if pts:
        ax.plot(*zip(*pts), "o", ms=3, color="0.7", label="measured samples")
    if measured:
        xs = [(r.round, r.best_so_far) for r in data.rounds if r.best_so_far is not None]
        # best-so-far only changes when a round is measured: steps, not slopes between rounds
        ax.step(*zip(*xs), where="post", color="C0")
        ax.plot(*zip(*xs), "o", color="C0", label="best measured so far")
    xs = [(r.round, r.predicted_best) for r in data.rounds if r.predicted_best is not None]
    if xs:
        ax.plot(*zip(*xs), "--s", mfc="none", color="C1", label="predicted best of the round")
    ax.set_xlabel("round")
    ax.set_ylabel(_label(data))
    ax.set_xticks(rnd)
    ax.legend(fontsize=7)
    if measured:
        ax = axes[0, 1]
        xs = [(n, b) for n, b in data.syntheses if b is not None]
        ax.step(*zip(*xs), where="post", color="C0")
        ax.plot(*zip(*xs), "o", ms=3, color="C0")
        ax.set_xlabel("number of syntheses")
        ax.set_ylabel(f"best measured {_label(data)}")
        _integer_axis(ax.xaxis)
    o = data.objective
    fig.suptitle(
        f"Campaign {data.campaign}: {o.name} at {o.rate:g} mA/g, {o.window[0]:g}–{o.window[1]:g} V, "
        f"cycle {o.cycle}",
        fontsize=10,
    )
    return png(fig)


def parity_figure(data) -> bytes | None:
    """Predicted at suggestion (± σ) vs measured, coloured by round; MAE per round."""
    rows = data.compared
    if not rows:
        return None
    colors = _round_colors(r.round for r in rows)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [1.3, 1]})
    for rnd, c in colors.items():
        mine = [r for r in rows if r.round == rnd]
        ax.errorbar(
            [r.predicted for r in mine],
            [r.measured for r in mine],
            xerr=[r.sigma for r in mine],
            fmt="o",
            ms=4,
            color=c,
            ecolor=c,
            elinewidth=1,
            capsize=2,
            label=f"round {rnd}",
        )
    vals = [v for r in rows for v in (r.predicted - r.sigma, r.predicted + r.sigma, r.measured)]
    lo, hi = min(vals), max(vals)
    pad = 0.05 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", lw=0.8, label="y = x")
    ax.set_xlabel(f"predicted at suggestion, {_label(data)}")
    ax.set_ylabel(f"measured, {_label(data)}")
    ax.legend(fontsize=7, ncol=2)
    mae = [(r.round, r.mae) for r in data.rounds if r.mae is not None]
    bx.bar([str(r) for r, _ in mae], [m for _, m in mae], color=[colors[r] for r, _ in mae])
    bx.set_xlabel("round")
    bx.set_ylabel(f"MAE ({data.unit})")
    return png(fig)


def calibration_figure(data) -> bytes | None:
    """Fraction within 1σ / 2σ per model version (ideal 68 % / 95 %) and the z histogram."""
    if not data.coverage:
        return None
    cov = data.coverage
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8))
    names = [f"v{c.model_version}" if c.model_version is not None else "all" for c in cov]
    x = np.arange(len(cov))
    for dx, key, label, color in (
        (-0.2, "within_1sigma", "within 1σ", "C0"),
        (0.2, "within_2sigma", "within 2σ", "C2"),
    ):
        bars = ax.bar(x + dx, [100 * getattr(c, key) for c in cov], 0.4, label=label, color=color)
        ax.bar_label(bars, fmt="%.0f %%", fontsize=7)
    ax.axhline(68.3, color="C0", ls="--", lw=0.8, label="ideal 68 %")
    ax.axhline(95.4, color="C2", ls="--", lw=0.8, label="ideal 95 %")
    ax.set_xticks(x, [f"{n}\n(n={c.n})" for n, c in zip(names, cov)])
    ax.set_ylim(0, 105)
    ax.set_xlabel("model version")
    ax.set_ylabel("measurements within (%)")
    ax.legend(fontsize=7, loc="lower right")
    z = np.clip(np.array(cov[-1].z), -Z_RANGE, Z_RANGE)
    bins = np.linspace(-Z_RANGE, Z_RANGE, 25)
    bx.hist(z, bins=bins, color="0.6", edgecolor="k", lw=0.5, label="measured")
    grid = np.linspace(-Z_RANGE, Z_RANGE, 200)
    bx.plot(
        grid,
        len(z) * (bins[1] - bins[0]) * np.exp(-(grid**2) / 2) / np.sqrt(2 * np.pi),
        "C3",
        label="N(0, 1), ideal",
    )
    bx.set_xlabel("z = (measured − predicted) / σ (dimensionless)")
    bx.set_ylabel("number of samples")
    bx.legend(fontsize=7)
    return png(fig)


def curves_figure(data) -> bytes | None:
    """Small multiples: measured Q(V) against the predicted curve with its ±σ band."""
    panels = data.panels
    if not panels:
        return None
    ncol = min(PANEL_COLUMNS, len(panels))
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.9 * ncol, 2.8 * nrow), squeeze=False)
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, p in zip(axes.flat, panels):
        if p.pred_q is not None:
            ax.plot(
                p.pred_q, p.pred_v, color="C0", lw=1, label=f"predicted (model v{p.model_version}) ±1 σ_Q"
            )
            ax.fill_betweenx(
                p.pred_v, p.pred_q - p.pred_std, p.pred_q + p.pred_std, color="C0", alpha=0.25, lw=0
            )
        ax.plot(p.measured_q, p.measured_v, "k", lw=1, label="measured")
        # a panel is ~2.9 in wide: the formula is broken between elements rather than cut at the edge
        ax.set_title(
            f"sample {p.sample_id}, round {p.round}\n{wrap_formula(p.formula, 30)}\n"
            f"{p.rate:g} mA/g, cycle {p.cycle}",
            fontsize=6.5,
        )
        ax.set_xlabel("Q (mAh/g)", fontsize=7)
        ax.set_ylabel("V (V)", fontsize=7)
        ax.tick_params(labelsize=6)
    axes.flat[0].legend(fontsize=6)
    return png(fig)


def spread_duplicates(points: np.ndarray, radius: float) -> np.ndarray:
    """``n x 2`` points where the samples sharing a grid point are spread on a small disc of
    ``radius`` around it (a sunflower pattern), so each stays visible and inside its grid cell."""
    out = np.array(points, dtype=float).reshape(-1, 2)
    keys = [tuple(p) for p in np.round(out, 6).tolist()]
    groups: dict[tuple[float, float], list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    golden = np.pi * (3.0 - np.sqrt(5.0))
    for idx in groups.values():
        if len(idx) < 2:
            continue
        for k, i in enumerate(idx):
            r = radius * np.sqrt((k + 0.5) / len(idx))
            out[i] += r * np.array([np.cos(k * golden), np.sin(k * golden)])
    return out


def space_figure(data) -> bytes | None:
    """The candidate space and the samples on two element amounts per f.u. (default Li vs F)."""
    sp = data.space
    if sp is None:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4.8))
    if len(sp.candidates):
        size = 4 + 60 * np.sqrt(sp.counts / sp.counts.max())
        ax.scatter(
            *sp.candidates.T,
            s=size,
            marker="s",
            color="0.8",
            lw=0,
            label=f"untested candidates ({int(sp.counts.sum())} of {sp.n_space}; area ∝ number here)",
        )
    style = {
        "suggested": ("o", "C1", "suggested, not measured"),
        "tested": ("o", "C2", "tested"),
        "failed": ("X", "C3", "failed"),
    }
    keys = [k for k in style if sp.groups.get(k) is not None and len(sp.groups[k])]
    allpts = spread_duplicates(np.vstack([sp.groups[k] for k in keys]), 0.4 * sp.step) if keys else None
    start = 0
    for key in keys:
        marker, color, label = style[key]
        pts = allpts[start : start + len(sp.groups[key])]
        start += len(pts)
        if key == "failed" and len(sp.failure_reasons) == len(pts):
            _failed_by_reason(ax, pts, sp.failure_reasons)
            continue
        ax.scatter(
            *pts.T, s=30, marker=marker, color=color, edgecolor="k", lw=0.5, label=f"{label} ({len(pts)})"
        )
    x, y = sp.axes
    ax.set_xlabel(f"{x} (per formula unit)")
    ax.set_ylabel(f"{y} (per formula unit)")
    ax.set_title(
        f"Composition map of campaign {data.campaign}: {x} vs {y}\n(samples with the same {x} and {y} are "
        "drawn around their point)",
        fontsize=9,
    )
    ax.legend(fontsize=7, loc="best")
    return png(fig)


_REASON_STYLE = {  # failed samples by why they failed: a chemist reads the failure mode off the map
    "impurity_phase": ("X", "C3"),
    "li_loss": ("v", "C4"),
    "f_not_incorporated": ("P", "C9"),
    "off_stoichiometry": ("D", "C5"),
    "cell": ("h", "0.5"),
    "other": ("*", "C6"),
}


def _failed_by_reason(ax, pts: np.ndarray, reasons: tuple[str, ...]) -> None:
    for reason in dict.fromkeys(reasons):
        m = np.array([r == reason for r in reasons])
        marker, color = _REASON_STYLE.get(reason, ("X", "C3"))
        label = f"failed: {reason.replace('_', ' ')} ({int(m.sum())})"
        ax.scatter(*pts[m].T, s=36, marker=marker, color=color, edgecolor="k", lw=0.5, label=label)


def pareto_figure(data) -> bytes | None:
    """The suggestions' predicted objectives (first two) with the non-dominated front."""
    pa = data.pareto
    if pa is None:
        return None
    fig, ax = plt.subplots(figsize=(6, 4.4))
    colors = _round_colors(pa.rounds)
    for rnd, c in colors.items():
        m = np.array(pa.rounds) == rnd
        ax.scatter(pa.points[m, 0], pa.points[m, 1], s=20, color=c, label=f"round {rnd}")
    front = pa.points[pa.front]
    front = front[np.argsort(-front[:, 0])]
    ax.plot(front[:, 0], front[:, 1], "-", drawstyle="steps-post", color="C3", lw=1)
    ax.scatter(front[:, 0], front[:, 1], s=60, facecolor="none", edgecolor="C3", label="Pareto front")
    ax.set_xlabel(f"predicted {pa.names[0]} ({pa.units[0]})")
    ax.set_ylabel(f"predicted {pa.names[1]} ({pa.units[1]})")
    ax.legend(fontsize=7)
    return png(fig)


REPORT_FIGURES = {
    "progress": progress_figure,
    "parity": parity_figure,
    "calibration": calibration_figure,
    "curves": curves_figure,
    "space": space_figure,
    "pareto": pareto_figure,
}


def report_figures(data) -> dict[str, bytes]:
    """Every report figure that has something to draw: name -> PNG bytes."""
    out = {}
    for name, make in REPORT_FIGURES.items():
        img = make(data)
        if img is not None:
            out[name] = img
    return out


def simulation_plot(result, path) -> None:
    """Best true objective found vs syntheses (:func:`simulation_figure`) → PNG."""
    fig = simulation_figure(result)
    fig.savefig(path)
    plt.close(fig)


def simulation_figure(result):
    """Best true objective found vs syntheses: median over seeds with min–max band, per strategy.

    Best-so-far only changes at a synthesis, so it is drawn as steps over integer syntheses. The
    true top-1 % threshold is drawn when it lies in the plotted range, else written on the plot.
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=110)
    lo, hi = np.inf, -np.inf
    seeds = 0
    for strat in dict.fromkeys(r.strategy for r in result.runs):
        curves = [r.true_best for r in result.runs if r.strategy == strat]
        n = min(len(c) for c in curves)
        arr = np.array([c[:n] for c in curves])
        seeds = max(seeds, len(curves))
        x = np.arange(1, n + 1)
        (line,) = ax.step(x, np.median(arr, 0), where="post", label=f"{strat} (median)")
        ax.fill_between(x, arr.min(0), arr.max(0), step="post", color=line.get_color(), alpha=0.15, lw=0)
        lo, hi = min(lo, float(arr.min())), max(hi, float(arr.max()))
    pad = 0.05 * (hi - lo or 1.0)
    top = result.top_threshold
    if np.isfinite(top) and lo - pad <= top <= hi + 3 * pad:
        ax.axhline(top, ls="--", color="grey", lw=1, label=f"true top 1 % (≥ {top:.0f} mAh/g)")
        hi = max(hi, top)
    elif np.isfinite(top):
        ax.text(
            0.02,
            0.98,
            f"true top 1 % starts at {top:.0f} mAh/g (above this range)",
            transform=ax.transAxes,
            ha="left",
            va="top",
            fontsize=7,
            color="0.3",
        )
    ax.set_ylim(lo - pad, hi + pad)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("Syntheses (compositions made)")
    ax.set_ylabel("Best true capacity found so far (mAh/g)")
    ax.set_title(
        f"Simulated campaigns, {result.campaign}: {result.rounds} rounds × {result.batch} syntheses,\n"
        f"{result.oracle} oracle; median and min–max over {seeds} seed(s)",
        fontsize=9,
    )
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


NOMINAL = {1: 0.683, 2: 0.954}  # share of a Gaussian within 1σ / 2σ


def coverage_round_figure(result):
    """Prospective coverage per round: share of each round's measurements within 1σ (left) and
    2σ (right) of the prediction made before it, raw σ_Q vs calibrated σ, median over seeds."""
    summ = result.summary()
    fig, axes = plt.subplots(1, 2, figsize=(8.8, 3.8), dpi=110, sharey=True)
    for ax, k in zip(axes, (1, 2)):
        for strat, v in summ.items():
            x = np.arange(1, len(v.coverage_by_round) + 1)
            for post, style in (("raw", ":"), ("calibrated", "-")):
                y = [c[k][post] for c in v.coverage_by_round]
                y = np.array([np.nan if c is None else 100 * c for c in y], dtype=float)
                ax.plot(x, y, style, marker="o", ms=3, label=f"{strat}, {post} σ" if k == 1 else None)
        ax.axhline(100 * NOMINAL[k], ls="--", color="grey", lw=1)
        ax.text(
            0.98,
            100 * NOMINAL[k] - 1,  # below the line: calibrated 2σ coverage often sits at 100 %
            f"Gaussian {100 * NOMINAL[k]:.0f} %",
            ha="right",
            va="top",
            fontsize=7,
            color="0.3",
            transform=ax.get_yaxis_transform(),
        )
        ax.set_ylim(-3, 103)
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("Round")
        ax.set_title(f"within {k}σ", fontsize=9)
    axes[0].set_ylabel("Measurements within kσ of the prediction (%)")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.suptitle(
        f"Prospective coverage per round, {result.campaign} ({result.oracle} oracle): median over seeds;\n"
        "raw σ_Q = ensemble spread, calibrated σ = what the suggestion was ranked with",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def coverage_round_plot(result, path) -> None:
    """:func:`coverage_round_figure` → PNG."""
    fig = coverage_round_figure(result)
    fig.savefig(path)
    plt.close(fig)

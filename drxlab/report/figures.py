"""Matplotlib figures (Agg backend, no display needed); axes always carry units."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def curve_plot(pred, labels: list[str], path: str, measured: list[tuple[np.ndarray, np.ndarray]] | None = None) -> None:
    """Predicted Q(V) with its ±σ band per composition (and measured curves if given) → PNG."""
    fig, ax = plt.subplots(figsize=(6, 4.2), dpi=120)
    for i, label in enumerate(labels):
        v, m, s = pred.voltage[i], pred.q_mean[i], pred.q_std[i]
        line, = ax.plot(m, v, label=f"{label} (pred.)")
        ax.fill_betweenx(v, m - s, m + s, color=line.get_color(), alpha=0.25, lw=0)
        if measured and i < len(measured) and measured[i] is not None:
            ax.plot(measured[i][1], measured[i][0], "--", color=line.get_color(), label=f"{label} (measured)")
    ax.set_xlabel("Capacity Q (mAh/g)")
    ax.set_ylabel("Voltage (V)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)

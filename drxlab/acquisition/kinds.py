"""The acquisition kinds, in a module of their own so the CLI can offer them without BoTorch."""
from __future__ import annotations

KINDS: tuple[str, ...] = ("ucb", "logei", "pi", "thompson", "greedy", "explore", "pareto", "random")
"""The acquisition kinds :func:`drxlab.acquisition.select.select_batch` accepts."""

VALUE_LABELS: dict[str, str] = {
    "ucb": "UCB = mean + κσ ({unit})",
    "logei": "log expected improvement",
    "pi": "log P(improvement)",
    "thompson": "drawn member's prediction ({unit})",
    "greedy": "mean ({unit})",
    "explore": "σ ({unit})",
    "pareto": "hypervolume contribution",
    "random": "random score (0–1)",
}
"""What each kind's acquisition value is, for table headers; ``{unit}`` is the primary objective's."""


def value_label(kind: str, unit: str) -> str:
    """Header for the acquisition value of ``kind``, e.g. ``'UCB = mean + κσ (mAh/g)'``."""
    return VALUE_LABELS.get(kind, "acquisition value").format(unit=unit)

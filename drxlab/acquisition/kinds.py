"""The acquisition kinds, in a module of their own so the CLI can offer them without BoTorch."""
from __future__ import annotations

KINDS: tuple[str, ...] = ("ucb", "logei", "pi", "thompson", "greedy", "explore", "pareto", "random")
"""The acquisition kinds :func:`drxlab.acquisition.select.select_batch` accepts."""

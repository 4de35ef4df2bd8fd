"""Seed compositions: the seed spaces are enumerated once per process (a fine-tune of the released
ensemble draws three samples from them); a draw must not depend on what was drawn before."""

from __future__ import annotations

import numpy as np

from drxlab.workflow import lab


def _draws() -> list[list[dict]]:
    # the first draw enumerates the spaces, the later ones read the kept blocks
    return [
        lab.seed_compositions(n, ["3TM", "HE"], np.random.default_rng(seed))
        for n, seed in ((6, 1), (400, 2), (6, 1))
    ]


def test_a_draw_does_not_depend_on_earlier_draws(monkeypatch) -> None:
    monkeypatch.setattr(lab, "_SEED_SPACES", {})
    warm = _draws()
    assert warm[0] == warm[2] and len(warm[0]) == 6 and len(warm[1]) == 400
    for n, seed, drawn in ((400, 2, warm[1]), (6, 1, warm[0])):
        monkeypatch.setattr(lab, "_SEED_SPACES", {})  # every space enumerated afresh
        assert lab.seed_compositions(n, ["3TM", "HE"], np.random.default_rng(seed)) == drawn
    assert {lab.compositions.composition_class(c) for c in warm[1]} == {"3TM", "HE"}

"""Failure reasons: the words a chemist writes map to one reason, anything else lists them all."""

from __future__ import annotations

import pytest

from drxlab.vocabulary import FailureReason


@pytest.mark.parametrize(
    ("text", "reason", "detail"),
    [
        ("impurity_phase: spinel peaks in XRD", FailureReason.IMPURITY_PHASE, "spinel peaks in XRD"),
        ("Impurity phase in XRD", FailureReason.IMPURITY_PHASE, "Impurity phase in XRD"),
        ("spinel reflections at 18.6°", FailureReason.IMPURITY_PHASE, "spinel reflections at 18.6°"),
        ("Li-loss: ICP Li 1.12 for 1.2", FailureReason.LI_LOSS, "ICP Li 1.12 for 1.2"),
        ("f_not_incorporated", FailureReason.F_NOT_INCORPORATED, ""),
        ("F not incorporated, LiF left", FailureReason.F_NOT_INCORPORATED, "F not incorporated, LiF left"),
        ("off-stoichiometry: Mn 0.35 by EDS", FailureReason.OFF_STOICHIOMETRY, "Mn 0.35 by EDS"),
        (
            "internal short circuit during the first charge",
            FailureReason.CELL,
            "internal short circuit during the first charge",
        ),
        ("other: crucible cracked", FailureReason.OTHER, "crucible cracked"),
    ],
)
def test_parse(text: str, reason: FailureReason, detail: str) -> None:
    assert FailureReason.parse(text) == (reason, detail)


@pytest.mark.parametrize("text", ["", "   ", "broke", "impure", "cellular", "li"])
def test_unknown_reason_lists_the_vocabulary(text: str) -> None:
    with pytest.raises(ValueError, match="unknown failure reason") as exc:
        FailureReason.parse(text)
    assert all(m.value in str(exc.value) for m in FailureReason)


def test_only_cell_failures_say_nothing_about_the_composition() -> None:
    assert [m for m in FailureReason if not m.synthesis] == [FailureReason.CELL]

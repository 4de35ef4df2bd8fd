"""The virtual lab's synthesis rules: each documented failure, the random ones, bad settings."""

from __future__ import annotations

import numpy as np
import pytest

from drxlab.exceptions import ConditionError
from drxlab.lab.synthesis import SynthesisRules, mn3_amount
from drxlab.vocabulary import FailureReason

RULES = SynthesisRules(random_rate=0.0, li_loss_rate=0.0)
RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    ("amts", "reason"),
    [
        ({"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2.0}, None),  # LMTO forms
        ({"Li": 1.2, "Mn": 0.6, "Ti": 0.2, "O": 1.75, "F": 0.25}, FailureReason.F_NOT_INCORPORATED),
        ({"Li": 1.3, "Mn": 0.5, "Ti": 0.2, "O": 1.75, "F": 0.25}, None),  # more Li dissolves more F
        ({"Li": 1.1, "Mn": 0.5, "Ti": 0.4, "O": 2.0}, FailureReason.IMPURITY_PHASE),  # Mn3+ 0.5, Li 1.1
        ({"Li": 1.2, "Mn": 0.6, "Ti": 0.2, "O": 2.0}, None),  # Mn3+ with enough Li excess
        (
            {"Li": 1.1, "Mn": 0.5, "Ti": 0.4, "O": 1.9, "F": 0.1},
            FailureReason.IMPURITY_PHASE,
        ),  # Mn 2.4+: Mn3+ 0.2
        ({"Li": 1.2, "Mn": 0.4, "Nb": 0.4, "O": 2.0}, FailureReason.IMPURITY_PHASE),  # Li3NbO4
    ],
)
def test_rules(amts: dict, reason: FailureReason | None) -> None:
    got = RULES.rule(amts)
    assert (got[0] if got else None) is reason
    assert RULES.feasible(amts) is (reason is None)


def test_mn3_amount_follows_the_charge_balance() -> None:
    assert mn3_amount({"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2.0}) == pytest.approx(0.4)
    assert mn3_amount({"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 1.6, "F": 0.4}) == pytest.approx(0.0)  # Mn2+
    assert mn3_amount({"Li": 1.2, "Mn": 0.4, "Xe": 0.4, "O": 2.0}) == 0.0  # unknown element: no call


def test_random_failures_at_their_rates_and_a_fixed_draw_count() -> None:
    rules = SynthesisRules(random_rate=0.1, li_loss_rate=0.5)
    rng = np.random.default_rng(3)
    rich = [rules.check({"Li": 1.3, "Mn": 0.3, "Ti": 0.4, "O": 2.0}, rng) for _ in range(2000)]
    share = {r: sum(1 for x in rich if x and x[0] is r) / 2000 for r in FailureReason}
    assert 0.45 < share[FailureReason.LI_LOSS] < 0.55 and 0.03 < share[FailureReason.OTHER] < 0.07
    a, b = np.random.default_rng(4), np.random.default_rng(4)
    rules.check({"Li": 1.2, "Mn": 0.6, "Ti": 0.2, "O": 1.7, "F": 0.3}, a)  # a rule failure
    rules.check({"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2.0}, b)  # none
    assert a.random() == b.random()  # same stream whatever the outcome


@pytest.mark.parametrize(
    ("field", "value"), [("random_rate", 1.0), ("li_loss_rate", -0.1), ("mn3_max", np.nan)]
)
def test_bad_settings_raise(field: str, value: float) -> None:
    with pytest.raises(ConditionError, match=field):
        SynthesisRules(**{field: value})

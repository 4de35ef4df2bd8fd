"""The closed sets of drxlab's vocabulary, each defined once.

Validation, ``click.Choice`` options and help texts are all derived from these enums, so a new
member (an acquisition kind, say) is added in one place. They are ``StrEnum``s: a member equals
its string value, which is what the store and campaign files hold.

    >>> AcquisitionKind("random").help
    'uniform random picks (the baseline)'
    >>> ObjectiveKind.ENERGY.unit
    'mWh/g'
"""

from __future__ import annotations

from enum import StrEnum


class SampleStatus(StrEnum):
    """Where a sample is in its life: proposed → synthesized → tested | failed (replaced: superseded)."""

    PROPOSED = "proposed"
    SYNTHESIZED = "synthesized"
    TESTED = "tested"
    FAILED = "failed"
    REPLACED = "replaced"

    @property
    def made(self) -> bool:
        """Whether a synthesis was attempted (a proposal that was never made is not)."""
        return self in (SampleStatus.SYNTHESIZED, SampleStatus.TESTED, SampleStatus.FAILED)

    @property
    def pending(self) -> bool:
        """Whether a result can still be logged for it."""
        return self in (SampleStatus.PROPOSED, SampleStatus.SYNTHESIZED)

    @property
    def closed(self) -> bool:
        """Whether it already has its outcome (a new one needs ``--replace``)."""
        return self in (SampleStatus.TESTED, SampleStatus.FAILED)


class AcquisitionKind(StrEnum):
    """How candidates are ranked for the next batch."""

    UCB = "ucb"
    LOGEI = "logei"
    PI = "pi"
    THOMPSON = "thompson"
    GREEDY = "greedy"
    EXPLORE = "explore"
    PARETO = "pareto"
    RANDOM = "random"

    @property
    def help(self) -> str:
        return _ACQUISITION_HELP[self]

    @property
    def needs_best(self) -> bool:
        """Whether it scores improvement over the best measured value (logEI, PI)."""
        return self in (AcquisitionKind.LOGEI, AcquisitionKind.PI)

    @property
    def multi_objective(self) -> bool:
        return self is AcquisitionKind.PARETO

    def value_label(self, unit: str) -> str:
        """What its acquisition value is, for table headers: ``'UCB = mean + κσ (mAh/g)'``."""
        return _ACQUISITION_VALUE[self].format(unit=unit)


_ACQUISITION_HELP = {
    AcquisitionKind.UCB: "mean + κσ_Q",
    AcquisitionKind.LOGEI: "log expected improvement over the best measured value",
    AcquisitionKind.PI: "probability of improvement over the best measured value",
    AcquisitionKind.THOMPSON: "one ensemble member per batch slot",
    AcquisitionKind.GREEDY: "predicted mean only",
    AcquisitionKind.EXPLORE: "σ_Q only",
    AcquisitionKind.PARETO: "non-dominated layers of several objectives",
    AcquisitionKind.RANDOM: "uniform random picks (the baseline)",
}

_ACQUISITION_VALUE = {  # ``{unit}`` is the primary objective's
    AcquisitionKind.UCB: "UCB = mean + κσ ({unit})",
    AcquisitionKind.LOGEI: "log expected improvement",
    AcquisitionKind.PI: "log P(improvement)",
    AcquisitionKind.THOMPSON: "drawn member's prediction ({unit})",
    AcquisitionKind.GREEDY: "mean ({unit})",
    AcquisitionKind.EXPLORE: "σ ({unit})",
    AcquisitionKind.PARETO: "hypervolume contribution",
    AcquisitionKind.RANDOM: "random score (0–1)",
}


class ObjectiveKind(StrEnum):
    """What a campaign maximises, predicted by DRXNet at fixed test conditions."""

    CAPACITY = "capacity"
    RETENTION = "retention"
    CYCLE_CAPACITY = "cycle_capacity"
    ENERGY = "energy"

    @property
    def unit(self) -> str:
        return _OBJECTIVE_UNITS[self]


_OBJECTIVE_UNITS = {
    ObjectiveKind.CAPACITY: "mAh/g",
    ObjectiveKind.CYCLE_CAPACITY: "mAh/g",
    ObjectiveKind.ENERGY: "mWh/g",
    ObjectiveKind.RETENTION: "ratio",
}


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """The members' string values, in definition order (for ``click.Choice`` and messages)."""
    return tuple(m.value for m in enum)


def describe(enum: type[AcquisitionKind]) -> str:
    """``"ucb (mean + κσ_Q), logei (…), …"`` for help texts."""
    return ", ".join(f"{m.value} ({m.help})" for m in enum)

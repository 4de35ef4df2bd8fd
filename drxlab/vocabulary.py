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


class FailureReason(StrEnum):
    """Why a synthesis (or its cell) failed, in the words a DRX chemist uses for it.

    The free text a chemist writes is kept beside the reason (``Sample.failure_detail``). Every
    reason but ``cell`` says the composition did not form a phase-pure rocksalt, so only those
    teach the feasibility model; a failed coin cell is not the material's fault.

        >>> FailureReason.parse("impurity phase in XRD")
        (<FailureReason.IMPURITY_PHASE: 'impurity_phase'>, 'impurity phase in XRD')
        >>> FailureReason.parse("li_loss: 8 % Li short by ICP")
        (<FailureReason.LI_LOSS: 'li_loss'>, '8 % Li short by ICP')
    """

    IMPURITY_PHASE = "impurity_phase"
    LI_LOSS = "li_loss"
    F_NOT_INCORPORATED = "f_not_incorporated"
    OFF_STOICHIOMETRY = "off_stoichiometry"
    CELL = "cell"
    OTHER = "other"

    @property
    def help(self) -> str:
        return _FAILURE_HELP[self]

    @property
    def synthesis(self) -> bool:
        """Whether it says the composition did not form (what the feasibility model learns)."""
        return self is not FailureReason.CELL

    @classmethod
    def parse(cls, text: str) -> tuple[FailureReason, str]:
        """``(reason, free text)`` from ``"CODE"``, ``"CODE: text"`` or text starting with a reason's
        words (``"impurity phase in XRD"``; case, ``_``, ``-`` and spaces do not matter).

        Raises ``ValueError`` naming the vocabulary when no reason matches.
        """
        raw = text.strip()
        code, sep, rest = raw.partition(":")
        head, whole = _words(code), _words(raw)
        for member in cls:
            key = _words(member.value)
            if head == key:
                return member, rest.strip()
            if whole.startswith(key + " "):
                return member, raw
        for member, aliases in _FAILURE_ALIASES.items():
            if any(whole.startswith(_words(a)) for a in aliases):
                return member, raw
        raise ValueError(
            f"unknown failure reason {text!r}; start it with one of: "
            + "; ".join(f"{m.value} ({m.help})" for m in cls)
            + " — e.g. 'impurity_phase: spinel peaks in XRD'"
        )


_FAILURE_HELP = {
    FailureReason.IMPURITY_PHASE: "secondary phase in XRD: spinel/layered, Li3NbO4, Li2MoO4 …",
    FailureReason.LI_LOSS: "Li volatilised during calcination, Li-deficient product",
    FailureReason.F_NOT_INCORPORATED: "F above its solubility: LiF left over, O/F off target",
    FailureReason.OFF_STOICHIOMETRY: "composition off target (ICP/EDS), not single-phase",
    FailureReason.CELL: "the coin cell failed (short, leak, contact), not the material",
    FailureReason.OTHER: "any other synthesis failure (say what in the text)",
}


def _words(text: str) -> str:
    return " ".join(text.lower().replace("_", " ").replace("-", " ").split())


# phrases chemists (and the virtual lab) start a reason with, beyond the reason's own words
_FAILURE_ALIASES = {
    FailureReason.IMPURITY_PHASE: ("impurity", "secondary phase", "spinel", "layered"),
    FailureReason.LI_LOSS: ("lithium loss",),
    FailureReason.F_NOT_INCORPORATED: ("f not incorporated", "fluorine not incorporated", "lif "),
    FailureReason.OFF_STOICHIOMETRY: ("synthesis off stoichiometry",),
    FailureReason.CELL: ("internal short", "crimping", "electrode delaminated"),
}


class CalibrationMethod(StrEnum):
    """How the ensemble's σ_Q is calibrated on the lab's measurements before acquisition."""

    SCALE = "scale"
    GP = "gp"
    NONE = "none"

    @property
    def help(self) -> str:
        return _CALIBRATION_HELP[self]


_CALIBRATION_HELP = {
    CalibrationMethod.SCALE: "σ_Q times a factor fitted on the errors measured before each result",
    CalibrationMethod.GP: "a residual Gaussian process: corrects the mean near measured compositions",
    CalibrationMethod.NONE: "the raw ensemble",
}


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """The members' string values, in definition order (for ``click.Choice`` and messages)."""
    return tuple(m.value for m in enum)


def describe(enum: type[AcquisitionKind] | type[CalibrationMethod]) -> str:
    """``"ucb (mean + κσ_Q), logei (…), …"`` for help texts."""
    return ", ".join(f"{m.value} ({m.help})" for m in enum)

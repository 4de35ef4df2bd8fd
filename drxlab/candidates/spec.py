"""The campaign file: a TOML description of the search space, the objectives and the acquisition.

A campaign file is parsed once, here, into frozen value objects; everything downstream trusts
them. Every error names the file, the key and what was expected.

Example:
    >>> spec = parse_spec('''
    ... [campaign]
    ... name = "demo"
    ... [space]
    ... li = { min = 1.1, max = 1.2 }
    ... f = { min = 0.0, max = 0.1 }
    ... step = 0.1
    ... [space.species]
    ... "Mn3+" = 0.6
    ... "Ti4+" = 0.4
    ... [objectives.capacity]
    ... rate = 20
    ... window = [1.5, 4.8]
    ... [acquisition]
    ... kind = "ucb"
    ... ''')
    >>> spec.species[0].label, spec.objectives[0].kind.unit
    ('Mn3+', 'mAh/g')
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pymatgen.core import Element

from drxlab.chem.constants import CATION_SUM
from drxlab.exceptions import CampaignError
from drxlab.vocabulary import AcquisitionKind, CalibrationMethod, ObjectiveKind, values

GRID_TOLERANCE = 1e-9  # an amount is on the grid when amount / step is within this of an integer
OBJECTIVE_KINDS: tuple[str, ...] = values(ObjectiveKind)
ACQUISITION_KINDS: tuple[str, ...] = values(AcquisitionKind)
CALIBRATION_METHODS: tuple[str, ...] = values(CalibrationMethod)
T = TypeVar("T")
_SPECIES_RE = re.compile(r"^([A-Z][a-z]?)(\d*)\+$")
_SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "campaign": ("name", "description", "max_pending_days"),
    "space": ("li", "f", "step", "min_metals", "max_metals", "species"),
    "acquisition": ("kind", "kappa", "batch", "min_distance", "xi", "seed", "calibration", "feasibility"),
}
_OBJECTIVE_KEYS = ("kind", "rate", "window", "cycle", "base_rate")


@dataclass(frozen=True)
class Species:
    """A cation species the generator may use.

    Attributes:
        element: element symbol, e.g. ``"Mn"``.
        oxidation_state: formal charge, a positive integer (e per ion).
        max_amount: most of this species per rocksalt formula unit (cations sum to 2).
    """

    element: str
    oxidation_state: int
    max_amount: float

    def __post_init__(self) -> None:
        invalid = functools.partial(InvalidValue, section="space")
        where = f"species.{self.label!r}"
        if not Element.is_valid_symbol(self.element):
            raise invalid(where, f"unknown element {self.element!r}")
        if self.element in ("Li", "O", "F"):
            raise invalid(where, f"{self.element} is set by [space] li / f, not listed as a species")
        known = Element(self.element).oxidation_states
        if self.oxidation_state not in known:
            allowed = ", ".join(f"{self.element}{q}+" for q in known if q > 0) or "none"
            raise invalid(
                where,
                f"{self.oxidation_state}+ is not a known oxidation state of {self.element}; known: {allowed}",
            )
        if not (0 < self.max_amount <= CATION_SUM):
            raise invalid(where, f"maximum amount {self.max_amount} must be > 0 and ≤ {CATION_SUM:g}")

    @classmethod
    def parse(cls, label: str, max_amount: float) -> Species:
        """A species from its campaign-file label, ``Species.parse("Mn3+", 0.4)``."""
        m = _SPECIES_RE.match(label)
        if not m:
            raise InvalidValue(
                f"species.{label!r}",
                "expected a cation species like 'Mn2+' or 'Ti4+' (element, charge, '+')",
                "space",
            )
        return cls(m.group(1), int(m.group(2) or 1), max_amount)

    @property
    def label(self) -> str:
        """The species as written in a campaign file: ``"Mn2+"``."""
        return f"{self.element}{self.oxidation_state}+"


@dataclass(frozen=True)
class Objective:
    """One quantity to maximise, predicted by DRXNet at fixed test conditions.

    Attributes:
        name: the objective table's name (``[objectives.<name>]``).
        kind: ``"capacity"`` (mAh/g at ``rate``, ``cycle``), ``"retention"`` (capacity at ``rate``
            / capacity at ``base_rate``, dimensionless), ``"cycle_capacity"`` (mAh/g at a
            ``cycle`` > 1) or ``"energy"`` (energy density, mWh/g).
        rate: current density, mA/g.
        window: voltage window ``(v_low, v_high)``, V.
        cycle: cycle number, ≥ 1.
        base_rate: reference current density for ``"retention"``, mA/g; ``None`` otherwise.
    """

    name: str
    kind: ObjectiveKind
    rate: float
    window: tuple[float, float]
    cycle: int = 1
    base_rate: float | None = None

    def __post_init__(self) -> None:
        invalid = functools.partial(InvalidValue, section=f"objectives.{self.name}")
        if self.kind not in OBJECTIVE_KINDS:
            raise invalid("kind", f"kind={self.kind!r} is not one of: {', '.join(OBJECTIVE_KINDS)}")
        object.__setattr__(self, "kind", ObjectiveKind(self.kind))
        if not self.rate > 0:
            raise invalid("rate", f"rate={self.rate} must be > 0 (mA/g)")
        v_low, v_high = self.window
        if not (0 < v_low < v_high):
            raise invalid("window", f"expected 0 < v_low < v_high (V), got [{v_low}, {v_high}]")
        if self.cycle < 1:
            raise invalid("cycle", f"cycle={self.cycle} must be ≥ 1")
        if self.kind == ObjectiveKind.CYCLE_CAPACITY and self.cycle < 2:
            raise invalid("cycle", f"cycle={self.cycle} must be > 1 for kind 'cycle_capacity'")
        if self.kind == ObjectiveKind.RETENTION:
            if self.base_rate is None:
                raise invalid("base_rate", "missing required key")
            if not self.base_rate > 0:
                raise invalid("base_rate", f"base_rate={self.base_rate} must be > 0 (mA/g)")
            if self.base_rate == self.rate:
                raise invalid("base_rate", f"base_rate={self.base_rate} must differ from rate={self.rate}")
        elif self.base_rate is not None:
            raise invalid("base_rate", f"only used by kind 'retention', not {self.kind.value!r}")

    @property
    def unit(self) -> str:
        """``"mAh/g"``, ``"mWh/g"`` or ``"ratio"``."""
        return self.kind.unit

    @property
    def header(self) -> str:
        """A table header saying what the objective is, e.g. ``'capacity_30: cycle 30 (mAh/g)'``."""
        if self.kind == "retention":
            what = f"Q({self.rate:g}) / Q({self.base_rate:g} mA/g)"
        else:
            what = "energy" if self.kind == "energy" else f"cycle {self.cycle}"
        return f"{self.name}: {what} ({self.unit})"


@dataclass(frozen=True)
class AcquisitionSpec:
    """How suggestions are picked from the scored candidates.

    Attributes:
        kind: an :class:`~drxlab.vocabulary.AcquisitionKind`.
        kappa: UCB exploration weight (≥ 0).
        batch: suggestions per round (≥ 1).
        min_distance: minimum L1 distance between suggested element-amount vectors (per f.u.).
        xi: improvement margin for logEI / PI, in objective units: improvement is counted over
            ``best_f + xi`` (≥ 0; larger values favour exploration).
        seed: random seed for Thompson sampling and tie-breaking; ``None`` for fresh entropy.
        calibration: how the ensemble's σ_Q is calibrated on the lab's measurements before
            acquisition: ``"scale"``, ``"gp"`` (residual Gaussian process) or ``"none"`` (raw
            ensemble); see :mod:`drxlab.acquisition.calibration`. Default ``"gp"``: in simulated
            campaigns its prospective coverage was nearest the nominal 68 / 95 %.
        feasibility: weight the scores by P(synthesis succeeds) learned from the store's failed
            and successful syntheses (:mod:`drxlab.acquisition.feasibility`).
    """

    kind: AcquisitionKind
    kappa: float = 1.0  # on the calibrated σ (about 10× σ_Q): the top 1 % on both oracles (README)
    batch: int = 8
    min_distance: float = 0.0
    xi: float = 0.0
    seed: int | None = None
    calibration: CalibrationMethod = CalibrationMethod.GP
    feasibility: bool = True

    def __post_init__(self) -> None:
        invalid = functools.partial(InvalidValue, section="acquisition")
        if self.kind not in ACQUISITION_KINDS:
            raise invalid("kind", f"kind={self.kind!r} is not one of: {', '.join(ACQUISITION_KINDS)}")
        object.__setattr__(self, "kind", AcquisitionKind(self.kind))
        if self.calibration not in CALIBRATION_METHODS:
            raise invalid(
                "calibration",
                f"calibration={self.calibration!r} is not one of: {', '.join(CALIBRATION_METHODS)}",
            )
        object.__setattr__(self, "calibration", CalibrationMethod(self.calibration))
        if not self.kappa >= 0:
            raise invalid("kappa", f"kappa={self.kappa} must be ≥ 0")
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1:
            raise invalid("batch", f"batch={self.batch} must be ≥ 1")
        if not self.min_distance >= 0:
            raise invalid("min_distance", f"min_distance={self.min_distance} must be ≥ 0")
        if not self.xi >= 0:
            raise invalid("xi", f"xi={self.xi} must be ≥ 0 (objective units)")
        if self.xi and not self.kind.needs_best:
            raise invalid("xi", f"only used by kinds 'logei' and 'pi', not {self.kind.value!r}")
        if not isinstance(self.feasibility, bool):
            raise invalid("feasibility", f"feasibility={self.feasibility!r} must be true or false")


@dataclass(frozen=True)
class CampaignSpec:
    """A parsed, validated campaign file.

    Attributes:
        name, description: from ``[campaign]``.
        li_min, li_max: Li per formula unit (cations sum to 2).
        f_min, f_max: F per formula unit (O + F = 2).
        step: grid step; every amount is an integer multiple of it and 2 / step is an integer.
        min_metals, max_metals: allowed number of distinct metal elements besides Li.
        species: the cation species and their maximum amounts, in file order.
        objectives: the objectives, in file order.
        acquisition: the acquisition settings.
        text: the campaign file's text; ``sha256``: its hex SHA-256.
        max_pending_days: days a sample may wait for its result before `status` flags it.
    """

    name: str
    description: str
    li_min: float
    li_max: float
    f_min: float
    f_max: float
    step: float
    min_metals: int
    max_metals: int
    species: tuple[Species, ...]
    objectives: tuple[Objective, ...]
    acquisition: AcquisitionSpec
    text: str = ""
    sha256: str = ""
    max_pending_days: float = 30.0

    def __post_init__(self) -> None:
        _check_step(self.step)
        d = self.max_pending_days
        if isinstance(d, bool) or not isinstance(d, int | float) or not (math.isfinite(d) and d > 0):
            raise InvalidValue("max_pending_days", f"max_pending_days={d!r} must be days > 0", "campaign")
        for key, lo, hi in (("li", self.li_min, self.li_max), ("f", self.f_min, self.f_max)):
            if lo > hi:
                raise InvalidValue(key, f"min = {lo} must be ≤ max = {hi}", "space")
            if lo < 0 or hi > CATION_SUM:
                raise InvalidValue(key, f"bounds [{lo}, {hi}] must lie within [0.0, {CATION_SUM:g}]", "space")
            for name, v in (("min", lo), ("max", hi)):
                if not _on_grid(v, self.step):
                    raise InvalidValue(
                        f"{key}.{name}", f"{v} is not an integer multiple of step={self.step}", "space"
                    )
        if not self.species:
            raise InvalidValue("species", "expected at least one species", "space")
        seen = set()
        for sp in self.species:
            where = f"species.{sp.label!r}"
            if (sp.element, sp.oxidation_state) in seen:
                raise InvalidValue(where, f"species {sp.label} is listed twice", "space")
            seen.add((sp.element, sp.oxidation_state))
            if not _on_grid(sp.max_amount, self.step):
                raise InvalidValue(
                    where,
                    f"maximum amount {sp.max_amount} is not an integer multiple of step={self.step}",
                    "space",
                )
        if self.min_metals < 1:
            raise InvalidValue("min_metals", f"min_metals={self.min_metals} must be ≥ 1", "space")
        if self.min_metals > self.max_metals:
            raise InvalidValue(
                "min_metals",
                f"min_metals={self.min_metals} must be ≤ max_metals = {self.max_metals}",
                "space",
            )
        if not self.objectives:
            raise InvalidValue("objectives", "needs at least one table like [objectives.capacity]")
        if self.acquisition.kind.multi_objective and len(self.objectives) < 2:
            raise InvalidValue(
                "kind", f"'pareto' needs at least two objectives, got {len(self.objectives)}", "acquisition"
            )
        if not self.sha256:
            # a spec built in code has no file: hash its canonical fields so it is still identifiable
            digest = hashlib.sha256((self.text or repr(self)).encode("utf-8")).hexdigest()
            object.__setattr__(self, "sha256", digest)

    @property
    def metal_elements(self) -> tuple[str, ...]:
        """Distinct metal elements of :attr:`species`, sorted."""
        return tuple(sorted({s.element for s in self.species}))

    def units(self, amount: float) -> int:
        """An on-grid amount in integer units of :attr:`step`."""
        return round(amount / self.step)


def load_spec(path: str | Path) -> CampaignSpec:
    """Read and validate a campaign file; raises :class:`CampaignError` naming the file and key."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")  # no newline translation: sha256 is the file's
    except FileNotFoundError:
        raise CampaignError(f"campaign file {str(path)!r} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CampaignError(f"cannot read campaign file {str(path)!r}: {exc}") from None
    return parse_spec(text, source=str(path))


def parse_spec(text: str, source: str = "<string>") -> CampaignSpec:
    """Parse and validate campaign TOML text; ``source`` names it in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CampaignError(f"{source}: invalid TOML: {exc}") from None
    p = _Parser(source)
    campaign = p.table(data, "campaign")
    space = p.table(data, "space")
    acq = p.table(data, "acquisition")
    for section, table in (("campaign", campaign), ("space", space), ("acquisition", acq)):
        p.no_unknown(table, section, _SECTION_KEYS[section])
    name = p.string(campaign, "campaign", "name")
    description = p.string(campaign, "campaign", "description", default="")
    step = p.number(space, "space", "step")
    p.build("space", _check_step, step)
    li_min, li_max = p.bounds(space, "li", step)
    f_min, f_max = p.bounds(space, "f", step)
    species = p.species(space, step)
    n_el = len({s.element for s in species})
    min_metals = p.integer(space, "space", "min_metals", default=1)
    max_metals = p.integer(space, "space", "max_metals", default=max(n_el, min_metals))
    objectives = p.objectives(data)
    acquisition = p.acquisition(acq)
    return p.build(
        None,
        CampaignSpec,
        name=name,
        description=description,
        li_min=li_min,
        li_max=li_max,
        f_min=f_min,
        f_max=f_max,
        step=step,
        min_metals=min_metals,
        max_metals=max_metals,
        species=species,
        objectives=objectives,
        acquisition=acquisition,
        text=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        max_pending_days=p.number(campaign, "campaign", "max_pending_days", default=30.0),
    )


def _check_step(step: float) -> None:
    if not (0 < step <= 1):
        raise InvalidValue("step", f"{step=} must be > 0 and ≤ 1", "space")
    if not _on_grid(CATION_SUM, step):
        raise InvalidValue("step", f"{step=} must divide {CATION_SUM:g} (2 / step an integer)", "space")


def _on_grid(value: float, step: float) -> bool:
    ratio = value / step
    return abs(ratio - round(ratio)) <= GRID_TOLERANCE * max(1.0, abs(ratio))


def _snap(value: float, step: float) -> float:
    """The grid value nearest ``value``, written with as few digits as ``step`` needs."""
    decimals = max(0, -math.floor(math.log10(step))) + 6
    return round(round(value / step) * step, decimals)


class _Parser:
    """Typed look-ups that raise :class:`CampaignError` naming the file and the key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, section: str, key: str | None, message: str) -> CampaignError:
        where = f"[{section}]" + (f" {key}" if key else "")
        return CampaignError(f"{self.source}: {where}: {message}")

    def build(self, section: str | None, make: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``make(*args, **kwargs)`` with a value object's own invariant errors placed in this file."""
        try:
            return make(*args, **kwargs)
        except InvalidValue as exc:
            raise self.error(exc.section or section or "", exc.key, exc.message) from None

    def table(self, data: dict[str, Any], section: str) -> dict[str, Any]:
        if section not in data:
            raise CampaignError(f"{self.source}: missing table [{section}]")
        if not isinstance(data[section], dict):
            raise CampaignError(f"{self.source}: [{section}] must be a table, got {data[section]!r}")
        return data[section]

    def no_unknown(self, table: dict[str, Any], section: str, allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                raise self.error(section, key, f"unknown key {key!r}; allowed: {', '.join(allowed)}")

    def get(self, table: dict[str, Any], section: str, key: str, default: Any) -> Any:
        if key in table:
            return table[key]
        if default is _REQUIRED:
            raise self.error(section, key, "missing required key")
        return default

    def string(self, table: dict[str, Any], section: str, key: str, default: Any = None) -> str:
        value = self.get(table, section, key, _REQUIRED if default is None else default)
        if not isinstance(value, str):
            raise self.error(section, key, f"expected a string, got {value!r}")
        return value

    def number(self, table: dict[str, Any], section: str, key: str, default: Any = None) -> float:
        value = self.get(table, section, key, _REQUIRED if default is None else default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(section, key, f"expected a finite number, got {value!r}")
        return float(value)

    def boolean(self, table: dict[str, Any], section: str, key: str, default: bool) -> bool:
        value = self.get(table, section, key, default)
        if not isinstance(value, bool):
            raise self.error(section, key, f"expected true or false, got {value!r}")
        return value

    def integer(self, table: dict[str, Any], section: str, key: str, default: Any = None) -> int:
        value = self.get(table, section, key, _REQUIRED if default is None else default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(section, key, f"expected an integer, got {value!r}")
        return value

    def bounds(self, space: dict[str, Any], key: str, step: float) -> tuple[float, float]:
        value = self.get(space, "space", key, _REQUIRED)
        if not isinstance(value, dict) or set(value) != {"min", "max"}:
            raise self.error("space", key, f"expected {{ min = ..., max = ... }}, got {value!r}")
        vmin = self.number({f"{key}.min": value["min"]}, "space", f"{key}.min")
        vmax = self.number({f"{key}.max": value["max"]}, "space", f"{key}.max")
        # off-grid values pass unsnapped, so that the spec names them
        return tuple(_snap(v, step) if _on_grid(v, step) else v for v in (vmin, vmax))  # type: ignore[return-value]

    def species(self, space: dict[str, Any], step: float) -> tuple[Species, ...]:
        table = self.get(space, "space", "species", _REQUIRED)
        if not isinstance(table, dict) or not table:
            expected = 'a non-empty table like { "Mn3+" = 0.4 }'
            raise self.error("space", "species", f"expected {expected}, got {table!r}")
        out = []
        for label, max_amount in table.items():
            where = f"species.{label!r}"
            self.build("space", Species.parse, label, 1.0)  # the label first, then its amount
            amount = self.number({where: max_amount}, "space", where)
            amount = _snap(amount, step) if _on_grid(amount, step) else amount
            out.append(self.build("space", Species.parse, label, amount))
        return tuple(out)

    def objectives(self, data: dict[str, Any]) -> tuple[Objective, ...]:
        table = self.table(data, "objectives")
        if not table:
            raise CampaignError(
                f"{self.source}: [objectives] needs at least one table like [objectives.capacity]"
            )
        return tuple(self.objective(name, t) for name, t in table.items())

    def objective(self, name: str, table: Any) -> Objective:
        section = f"objectives.{name}"
        if not isinstance(table, dict):
            raise CampaignError(f"{self.source}: [{section}] must be a table, got {table!r}")
        if "weight" in table:
            # objectives are never scalarised: single-objective kinds rank by the first table
            raise self.error(
                section,
                "weight",
                "objective weights are not used: single-objective "
                "acquisition kinds rank by the first [objectives] table; use kind = 'pareto' "
                "to trade several objectives off",
            )
        self.no_unknown(table, section, _OBJECTIVE_KEYS)
        kind = self.string(table, section, "kind", default=name if name in OBJECTIVE_KINDS else None)
        rate = self.number(table, section, "rate")
        window = self.get(table, section, "window", _REQUIRED)
        if not isinstance(window, list) or len(window) != 2:
            raise self.error(section, "window", f"expected [v_low, v_high] in V, got {window!r}")
        v_low = self.number({"window": window[0]}, section, "window")
        v_high = self.number({"window": window[1]}, section, "window")
        cycle = self.integer(table, section, "cycle", default=1)
        base_rate = self.number(table, section, "base_rate") if "base_rate" in table else None
        return self.build(section, Objective, name, kind, rate, (v_low, v_high), cycle, base_rate)

    def acquisition(self, table: dict[str, Any]) -> AcquisitionSpec:
        s = "acquisition"
        seed = self.integer(table, s, "seed") if "seed" in table else None
        return self.build(
            s,
            AcquisitionSpec,
            self.string(table, s, "kind"),
            self.number(table, s, "kappa", default=AcquisitionSpec.kappa),
            self.integer(table, s, "batch", default=8),
            self.number(table, s, "min_distance", default=0.0),
            self.number(table, s, "xi", default=0.0),
            seed,
            self.string(table, s, "calibration") if "calibration" in table else "gp",
            self.boolean(table, s, "feasibility", default=True),
        )


_REQUIRED = object()


class InvalidValue(CampaignError):
    """A value object's invariant broken by one field; the parser adds the file and the table."""

    def __init__(self, key: str, message: str, section: str | None = None) -> None:
        super().__init__((f"[{section}] " if section else "") + f"{key}: {message}")
        self.key, self.message, self.section = key, message, section

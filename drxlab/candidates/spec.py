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
    >>> spec.species[0].label, spec.objectives[0].kind
    ('Mn3+', 'capacity')
"""
from __future__ import annotations

import hashlib
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pymatgen.core import Element

from drxlab.exceptions import CampaignError

GRID_TOLERANCE = 1e-9  # an amount is on the grid when amount / step is within this of an integer
CATION_SUM = 2  # cations (and anions) per rocksalt formula unit
OBJECTIVE_KINDS: tuple[str, ...] = ("capacity", "retention", "cycle_capacity", "energy")
OBJECTIVE_UNITS = {"capacity": "mAh/g", "cycle_capacity": "mAh/g", "energy": "mWh/g", "retention": "ratio"}
ACQUISITION_KINDS: tuple[str, ...] = ("ucb", "logei", "pi", "thompson", "greedy", "explore", "pareto")
_SPECIES_RE = re.compile(r"^([A-Z][a-z]?)(\d*)\+$")
_SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "campaign": ("name", "description"),
    "space": ("li", "f", "step", "min_metals", "max_metals", "species"),
    "acquisition": ("kind", "kappa", "batch", "min_distance", "xi", "seed"),
}
_OBJECTIVE_KEYS = ("kind", "rate", "window", "cycle", "base_rate", "weight")


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
        weight: weight of this objective when objectives are scalarised.
    """

    name: str
    kind: str
    rate: float
    window: tuple[float, float]
    cycle: int = 1
    base_rate: float | None = None
    weight: float = 1.0

    @property
    def unit(self) -> str:
        """``"mAh/g"``, ``"mWh/g"`` or ``"ratio"``."""
        return OBJECTIVE_UNITS[self.kind]

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
        kind: one of :data:`ACQUISITION_KINDS`.
        kappa: UCB exploration weight (≥ 0).
        batch: suggestions per round (≥ 1).
        min_distance: minimum L1 distance between suggested element-amount vectors (per f.u.).
        xi: improvement margin for EI / PI, in objective units.
        seed: random seed for Thompson sampling and tie-breaking; ``None`` for fresh entropy.
    """

    kind: str
    kappa: float = 2.0
    batch: int = 8
    min_distance: float = 0.0
    xi: float = 0.0
    seed: int | None = None


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
    text: str
    sha256: str

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
    if not (0 < step <= 1):
        raise p.error("space", "step", f"{step=} must be > 0 and ≤ 1")
    if not _on_grid(CATION_SUM, step):
        raise p.error("space", "step", f"{step=} must divide {CATION_SUM} (2 / step an integer)")
    li_min, li_max = p.bounds(space, "li", step, 0.0, CATION_SUM)
    f_min, f_max = p.bounds(space, "f", step, 0.0, CATION_SUM)
    species = p.species(space, step)
    n_el = len({s.element for s in species})
    min_metals = p.integer(space, "space", "min_metals", default=1)
    max_metals = p.integer(space, "space", "max_metals", default=max(n_el, min_metals))
    if min_metals < 1:
        raise p.error("space", "min_metals", f"{min_metals=} must be ≥ 1")
    if min_metals > max_metals:
        raise p.error("space", "min_metals", f"{min_metals=} must be ≤ max_metals = {max_metals}")
    objectives = p.objectives(data)
    acquisition = p.acquisition(acq, len(objectives))
    return CampaignSpec(
        name=name, description=description, li_min=li_min, li_max=li_max, f_min=f_min, f_max=f_max,
        step=step, min_metals=min_metals, max_metals=max_metals, species=species,
        objectives=objectives, acquisition=acquisition, text=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
    )


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

    def integer(self, table: dict[str, Any], section: str, key: str, default: Any = None) -> int:
        value = self.get(table, section, key, _REQUIRED if default is None else default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(section, key, f"expected an integer, got {value!r}")
        return value

    def bounds(
        self, space: dict[str, Any], key: str, step: float, lo: float, hi: float
    ) -> tuple[float, float]:
        value = self.get(space, "space", key, _REQUIRED)
        if not isinstance(value, dict) or set(value) != {"min", "max"}:
            raise self.error("space", key, f"expected {{ min = ..., max = ... }}, got {value!r}")
        vmin = self.number({f"{key}.min": value["min"]}, "space", f"{key}.min")
        vmax = self.number({f"{key}.max": value["max"]}, "space", f"{key}.max")
        if vmin > vmax:
            raise self.error("space", key, f"min = {vmin} must be ≤ max = {vmax}")
        if vmin < lo or vmax > hi:
            raise self.error("space", key, f"bounds [{vmin}, {vmax}] must lie within [{lo}, {hi}]")
        for name, v in (("min", vmin), ("max", vmax)):
            if not _on_grid(v, step):
                raise self.error("space", f"{key}.{name}", f"{v} is not an integer multiple of {step=}")
        return _snap(vmin, step), _snap(vmax, step)

    def species(self, space: dict[str, Any], step: float) -> tuple[Species, ...]:
        table = self.get(space, "space", "species", _REQUIRED)
        if not isinstance(table, dict) or not table:
            expected = 'a non-empty table like { "Mn3+" = 0.4 }'
            raise self.error("space", "species", f"expected {expected}, got {table!r}")
        out = []
        for label, max_amount in table.items():
            where = f"species.{label!r}"
            m = _SPECIES_RE.match(label)
            if not m:
                expected = "a cation species like 'Mn2+' or 'Ti4+' (element, charge, '+')"
                raise self.error("space", where, f"expected {expected}")
            element, charge = m.group(1), int(m.group(2) or 1)
            if not Element.is_valid_symbol(element):
                raise self.error("space", where, f"unknown element {element!r}")
            if element in ("Li", "O", "F"):
                message = f"{element} is set by [space] li / f, not listed as a species"
                raise self.error("space", where, message)
            known = Element(element).oxidation_states
            if charge not in known:
                allowed = ", ".join(f"{element}{q}+" for q in known if q > 0) or "none"
                message = f"{charge}+ is not a known oxidation state of {element}; known: {allowed}"
                raise self.error("space", where, message)
            if any(s.element == element and s.oxidation_state == charge for s in out):
                raise self.error("space", where, f"species {element}{charge}+ is listed twice")
            amount = self.number({where: max_amount}, "space", where)
            if not (0 < amount <= CATION_SUM):
                raise self.error("space", where, f"maximum amount {amount} must be > 0 and ≤ {CATION_SUM}")
            if not _on_grid(amount, step):
                message = f"maximum amount {amount} is not an integer multiple of {step=}"
                raise self.error("space", where, message)
            out.append(Species(element, charge, _snap(amount, step)))
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
        self.no_unknown(table, section, _OBJECTIVE_KEYS)
        default_kind = name if name in OBJECTIVE_KINDS else None
        kind = self.string(table, section, "kind", default=default_kind)
        if kind not in OBJECTIVE_KINDS:
            raise self.error(section, "kind", f"{kind=} is not one of: {', '.join(OBJECTIVE_KINDS)}")
        rate = self.number(table, section, "rate")
        if rate <= 0:
            raise self.error(section, "rate", f"{rate=} must be > 0 (mA/g)")
        window = self.get(table, section, "window", _REQUIRED)
        if not isinstance(window, list) or len(window) != 2:
            raise self.error(section, "window", f"expected [v_low, v_high] in V, got {window!r}")
        v_low = self.number({"window": window[0]}, section, "window")
        v_high = self.number({"window": window[1]}, section, "window")
        if not (0 < v_low < v_high):
            raise self.error(section, "window", f"expected 0 < v_low < v_high (V), got [{v_low}, {v_high}]")
        cycle = self.integer(table, section, "cycle", default=1)
        if cycle < 1:
            raise self.error(section, "cycle", f"{cycle=} must be ≥ 1")
        if kind == "cycle_capacity" and cycle < 2:
            raise self.error(section, "cycle", f"{cycle=} must be > 1 for kind 'cycle_capacity'")
        base_rate = None
        if kind == "retention":
            base_rate = self.number(table, section, "base_rate")
            if base_rate <= 0:
                raise self.error(section, "base_rate", f"{base_rate=} must be > 0 (mA/g)")
            if base_rate == rate:
                raise self.error(section, "base_rate", f"{base_rate=} must differ from {rate=}")
        elif "base_rate" in table:
            raise self.error(section, "base_rate", f"only used by kind 'retention', not {kind!r}")
        weight = self.number(table, section, "weight", default=1.0)
        if weight <= 0:
            raise self.error(section, "weight", f"{weight=} must be > 0")
        return Objective(name, kind, rate, (v_low, v_high), cycle, base_rate, weight)

    def acquisition(self, table: dict[str, Any], n_objectives: int) -> AcquisitionSpec:
        s = "acquisition"
        kind = self.string(table, s, "kind")
        if kind not in ACQUISITION_KINDS:
            raise self.error(s, "kind", f"{kind=} is not one of: {', '.join(ACQUISITION_KINDS)}")
        if kind == "pareto" and n_objectives < 2:
            raise self.error(s, "kind", f"'pareto' needs at least two objectives, got {n_objectives}")
        kappa = self.number(table, s, "kappa", default=2.0)
        if kappa < 0:
            raise self.error(s, "kappa", f"{kappa=} must be ≥ 0")
        batch = self.integer(table, s, "batch", default=8)
        if batch < 1:
            raise self.error(s, "batch", f"{batch=} must be ≥ 1")
        min_distance = self.number(table, s, "min_distance", default=0.0)
        if min_distance < 0:
            raise self.error(s, "min_distance", f"{min_distance=} must be ≥ 0")
        xi = self.number(table, s, "xi", default=0.0)
        seed = self.integer(table, s, "seed") if "seed" in table else None
        return AcquisitionSpec(kind, kappa, batch, min_distance, xi, seed)


_REQUIRED = object()

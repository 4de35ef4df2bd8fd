"""Enumerate the candidate compositions of a campaign: Li(1+x) M(1-x) O(2-y) F(y) on a grid.

Every amount is an integer number of grid units (``spec.step``); with ``N = 2 / step`` units per
sublattice a candidate has Li + Σ metals = N cation units, O + F = N anion units and is charge
balanced, Σ q_i n_i = 2 n_O + n_F, i.e. Σ_metals (q - 1) m = N - n_F. The search walks the metal
elements in column order, choosing each element's amount; the set of charges an element's amount
can carry (split between its listed oxidation states) is precomputed, and the reachable charges
of the partial composition are kept as a bit set (a Python int), so every composition of element
amounts is visited once (no duplicates from Mn2+/Mn3+ splits) and branches that cannot reach the
cation total or the charge window are pruned.

Example::

        from drxlab.candidates.spec import load_spec
        spec = load_spec("campaigns/li-mn-o-f.toml")
        for chunk in iter_candidates(spec):
            chunk.amounts.shape  # n x d, columns chunk.elements = ("Li", "Mn", "O", "F")
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from drxlab.candidates.spec import CampaignSpec
from drxlab.chem.compositions import composition_class, format_formula
from drxlab.exceptions import CampaignError

DEFAULT_CHUNK = 50_000
_Row = tuple[tuple[int, ...], list[int]]  # (element units Li, metals..., O, F), species units


@dataclass(frozen=True)
class CandidateChunk:
    """A block of candidates; columns are fixed for the whole space.

    Attributes:
        elements: column order of ``amounts``: ``("Li", *metals sorted, "O", "F")``.
        species: column order of ``species_units``: the spec's species labels (``"Mn2+"``).
        units: ``n x d`` int32 element amounts in grid units.
        amounts: ``n x d`` float64 element amounts per formula unit (cations sum to 2).
        species_units: ``n x s`` int32 amount of each species in grid units: the oxidation-state
            assignment that balances the charge (one per composition).
        step: the grid step (formula units per grid unit).
    """

    elements: tuple[str, ...]
    species: tuple[str, ...]
    units: np.ndarray
    amounts: np.ndarray
    species_units: np.ndarray
    step: float

    def __len__(self) -> int:
        return int(self.units.shape[0])

    @property
    def f(self) -> np.ndarray:
        """F per formula unit, an ``n`` vector."""
        return self.amounts[:, -1]


@dataclass(frozen=True)
class Candidate:
    """One candidate composition.

    Attributes:
        formula: canonical formula (:func:`drxlab.chem.compositions.format_formula`).
        amounts: element -> amount per formula unit (elements with a non-zero amount).
        f: F per formula unit.
        oxidation_states: species label (``"Mn3+"``) -> amount per formula unit, the assignment
            that balances the charge (species with a non-zero amount).
    """

    formula: str
    amounts: Mapping[str, float]
    f: float
    oxidation_states: Mapping[str, float]

    @property
    def composition_class(self) -> str:
        """'2TM', '3TM' or 'HE' by the number of metals besides Li."""
        return composition_class(self.amounts)


def iter_candidates(
    spec: CampaignSpec, chunk: int = DEFAULT_CHUNK, *, species: bool = True
) -> Iterator[CandidateChunk]:
    """Stream the candidates of ``spec`` in chunks of at most ``chunk`` rows, in a fixed order.

    ``species=False`` leaves ``species_units`` empty (``n x 0``): rebuilding the oxidation-state
    split of every row is most of the walk's cost, and a caller that only needs the element
    amounts (seeding, counting) gets the same rows in the same order ~2.5x faster.

    Raises :class:`CampaignError` (on the first ``next``) naming the constraint that empties the
    space when there is no candidate.
    """
    if chunk < 1:
        raise CampaignError(f"{chunk=} must be ≥ 1")
    message = _quick_diagnosis(spec)
    if message:
        raise CampaignError(f"campaign {spec.name!r}: {message}")
    space = _Space(spec)
    n = 0
    for block in space.blocks(chunk, species=species):
        n += len(block)
        yield block
    if n == 0:
        raise CampaignError(f"campaign {spec.name!r}: {_diagnose(spec)}")


def count_candidates(spec: CampaignSpec) -> int:
    """Number of candidates (enumerates them chunk by chunk; memory stays bounded)."""
    return sum(len(c) for c in iter_candidates(spec, species=False))


def count_branch(spec: CampaignSpec, branch: int) -> int:
    """Candidates whose first metal element has ``branch`` grid units (0: none of it)."""
    return sum(1 for _ in _Space(spec)._walk(branch, species=False))


def branches(spec: CampaignSpec) -> list[int]:
    """The first metal's possible amounts in grid units (0 included): :func:`count_branch`'s
    subtrees, which partition the space."""
    space = _Space(spec)
    return [0, *space.tables[0]] if space.metals else [0]


def check_feasible(spec: CampaignSpec) -> None:
    """Raise :class:`CampaignError` naming the emptying constraint when ``spec`` has no candidate."""
    next(iter_candidates(spec, chunk=1))


def first_candidates(spec: CampaignSpec, n: int) -> list[Candidate]:
    """The first ``n`` candidates in enumeration order (fewer if the space is smaller)."""
    out: list[Candidate] = []
    if n <= 0:
        return out
    for block in iter_candidates(spec, chunk=min(n, DEFAULT_CHUNK)):
        out.extend(candidates_of(block))
        if len(out) >= n:
            break
    return out[:n]


def candidate_formulas(chunk: CandidateChunk) -> list[str]:
    """Canonical formula strings of a chunk's rows."""
    els = chunk.elements
    return [format_formula(dict(zip(els, row))) for row in chunk.amounts.tolist()]


def candidates_of(chunk: CandidateChunk) -> list[Candidate]:
    """The chunk's rows as :class:`Candidate` objects."""
    n = round(2.0 / chunk.step)
    out = []
    for row, sp in zip(chunk.amounts.tolist(), chunk.species_units.tolist()):
        amts = {el: a for el, a in zip(chunk.elements, row) if a > 0}
        ox = {label: u * 2 / n for label, u in zip(chunk.species, sp) if u > 0}
        out.append(Candidate(format_formula(amts), amts, row[-1], ox))
    return out


class _Space:
    """The integer grid of a spec and a pruned depth-first walk over metal element amounts."""

    def __init__(self, spec: CampaignSpec) -> None:
        self.spec = spec
        self.n = round(2 / spec.step)  # grid units per sublattice
        self.metals = spec.metal_elements
        self.elements = ("Li", *self.metals, "O", "F")
        self.labels = tuple(s.label for s in spec.species)
        self.m_lo = self.n - spec.units(spec.li_max)  # metal units
        self.m_hi = self.n - spec.units(spec.li_min)
        self.t_lo = self.n - spec.units(spec.f_max)  # target excess Σ (q - 1) m
        self.t_hi = self.n - spec.units(spec.f_min)
        self.tables = [self._table(el) for el in self.metals]
        self.caps = [max(t) if t else 0 for t in self.tables]
        e = len(self.metals)
        self.cap_rem = [sum(self.caps[i:]) for i in range(e + 1)]
        excess = [[s.oxidation_state - 1 for s in spec.species if s.element == el] for el in self.metals]
        self.emin = [min((x for xs in excess[i:] for x in xs), default=0) for i in range(e + 1)]
        self.emax = [max((x for xs in excess[i:] for x in xs), default=0) for i in range(e + 1)]

    def _table(self, element: str) -> dict[int, dict[int, tuple[tuple[int, int], ...]]]:
        """amount (units) -> {excess Σ (q-1) u: first split ((species index, units), ...)}."""
        states: dict[tuple[int, int], tuple[tuple[int, int], ...]] = {(0, 0): ()}
        for j, sp in enumerate(self.spec.species):
            if sp.element != element:
                continue
            cap = min(self.spec.units(sp.max_amount), self.n)
            grown: dict[tuple[int, int], tuple[tuple[int, int], ...]] = {}
            for (a, x), split in states.items():
                for u in range(min(cap, self.n - a) + 1):
                    key = (a + u, x + (sp.oxidation_state - 1) * u)
                    grown.setdefault(key, split + ((j, u),) if u else split)
            states = grown
        table: dict[int, dict[int, tuple[tuple[int, int], ...]]] = {}
        for (a, x), split in sorted(states.items()):
            if a:
                table.setdefault(a, {})[x] = split
        return dict(sorted(table.items()))

    def blocks(self, chunk: int, species: bool = True) -> Iterator[CandidateChunk]:
        """The walk's rows packed into chunks of ``chunk`` rows (the last may be shorter)."""
        rows: list[tuple[int, ...]] = []
        sps: list[list[int]] = []
        for row, sp in self._walk(species=species):
            rows.append(row)
            sps.append(sp)
            if len(rows) >= chunk:
                yield self._block(rows, sps)
                rows, sps = [], []
        if rows:
            yield self._block(rows, sps)

    def _block(self, rows: list[tuple[int, ...]], sps: list[list[int]]) -> CandidateChunk:
        units = np.asarray(rows, dtype=np.int32)
        amounts = (units * 2) / self.n  # correctly rounded: 3 units of 0.05 -> 0.15, not 0.15000000000000002
        return CandidateChunk(
            elements=self.elements,
            species=self.labels,
            units=units,
            amounts=amounts,
            species_units=np.asarray(sps, dtype=np.int32),
            step=self.spec.step,
        )

    def _walk(self, branch: int | None = None, species: bool = True) -> Iterator[_Row]:
        """Depth-first over metal elements; ``d`` is the bit set of reachable excesses so far.

        ``branch``: only the subtree where the first metal has this many grid units (0: absent);
        the subtrees of :meth:`branches` partition the space (a distributed count's tasks).
        ``species=False``: every row's species split is ``[]`` (not rebuilt).
        """
        e = len(self.metals)
        amt = [0] * e
        dstack = [0] * e
        spec = self.spec
        min_metals, max_metals = spec.min_metals, spec.max_metals
        m_lo, m_hi, t_lo, t_hi = self.m_lo, self.m_hi, self.t_lo, self.t_hi
        cap_rem, emin, emax, tables = self.cap_rem, self.emin, self.emax, self.tables
        leaf = self._leaf if species else self._leaf_amounts
        # An explicit stack, not nested generators: a row yielded from depth e of recursive
        # generators is passed up through every level, which cost most of the walk.
        # Node: (metal index i, metal units so far u, metals present k, reachable excesses d,
        # units of metal i - 1 chosen by the parent); children are pushed in reverse, so they are
        # visited in the order of the recursive walk (absent first, then increasing amounts).
        stack = [(0, 0, 0, 1, 0)]
        while stack:
            i, u, k, d, a = stack.pop()
            if i:
                amt[i - 1] = a  # deeper entries are set before any leaf below reads them
            r_lo = max(0, m_lo - u)
            r_hi = min(cap_rem[i], m_hi - u)
            if r_lo > r_hi or k + (e - i) < min_metals or (r_lo > 0 and k >= max_metals):
                continue
            lo = max(0, t_lo - emax[i] * r_hi)
            hi = t_hi - emin[i] * r_lo
            if hi < lo:
                continue
            d &= ((1 << (hi + 1)) - 1) ^ ((1 << lo) - 1)
            if not d:
                continue
            if i == e:
                yield from leaf(u, d, amt, dstack)
                continue
            dstack[i] = d
            children = [(i + 1, u, k, d, 0)] if i or branch in (None, 0) else []
            if k < max_metals:
                for a, charges in tables[i].items():
                    if a > r_hi:
                        break
                    if i == 0 and branch not in (None, a):
                        continue
                    nd = 0
                    for x in charges:
                        nd |= d << x
                    children.append((i + 1, u + a, k + 1, nd, a))
            stack.extend(reversed(children))

    def _leaf_amounts(self, u: int, d: int, amt: list[int], dstack: list[int]) -> Iterator[_Row]:
        """:meth:`_leaf`'s rows without their species split."""
        n = self.n
        while d:
            low = d & -d
            d ^= low
            f = n - (low.bit_length() - 1)
            yield (n - u, *amt, n - f, f), []

    def _leaf(self, u: int, d: int, amt: list[int], dstack: list[int]) -> Iterator[_Row]:
        """Rows for every target excess in ``d``; the species split is rebuilt walking back."""
        n = self.n
        while d:
            low = d & -d
            d ^= low
            t = low.bit_length() - 1
            f = n - t
            sp = [0] * len(self.labels)
            for i in range(len(amt) - 1, -1, -1):
                if amt[i]:
                    for x, split in self.tables[i][amt[i]].items():
                        if x <= t and (dstack[i] >> (t - x)) & 1:
                            for j, v in split:
                                sp[j] = v
                            t -= x
                            break
            yield (n - u, *amt, n - f, f), sp


# --- diagnosis of an empty space ------------------------------------------------------------


def _fmt(x: float) -> str:
    return f"{round(x, 6):g}"


def _ranges(spec: CampaignSpec) -> str:
    li, f = f"[{_fmt(spec.li_min)}, {_fmt(spec.li_max)}]", f"[{_fmt(spec.f_min)}, {_fmt(spec.f_max)}]"
    return f"no composition satisfies charge balance with Li in {li} and F in {f}"


def _quick_diagnosis(spec: CampaignSpec) -> str | None:
    """Necessary conditions checked without enumerating: metal count, amounts, charge range."""
    metals = spec.metal_elements
    if spec.min_metals > len(metals):
        return (
            f"min_metals = {spec.min_metals} but only {len(metals)} metal elements are listed in "
            f"[space.species] ({', '.join(metals)}); list more elements or lower min_metals"
        )
    caps = sorted(
        (min(sum(s.max_amount for s in spec.species if s.element == el), 2.0) for el in metals), reverse=True
    )
    need = 2 - spec.li_max
    reach = sum(caps[: spec.max_metals])
    if reach < need - 1e-9:
        which = (
            "species maxima sum"
            if spec.max_metals >= len(metals)
            else (
                f"the maxima of the {spec.max_metals} largest elements (max_metals = {spec.max_metals}) sum"
            )
        )
        return (
            f"{which} to {_fmt(reach)} < required metal amount {_fmt(need)} "
            f"(2 − li_max = 2 − {_fmt(spec.li_max)}); raise the species maxima or li_max"
        )
    room = 2 - spec.li_min
    if spec.min_metals * spec.step > room + 1e-9:
        return (
            f"min_metals = {spec.min_metals} metals of at least one step ({_fmt(spec.step)}) each need "
            f"{_fmt(spec.min_metals * spec.step)} > available metal amount {_fmt(room)} (2 − li_min); "
            "lower li_min or min_metals"
        )
    # Metals carry at least +1 each, so the most charge comes with the most metal the maxima allow.
    most = min(room, sum(caps))
    hi_li = 2 - most
    hi_charge = hi_li + _greedy_charge(spec, most, highest=True)
    if hi_charge < 4 - spec.f_max - 1e-9:
        return (
            f"{_ranges(spec)}: the species' charges cannot reach the anion charge; cation charge is at "
            f"most {_fmt(hi_charge)} e per formula unit (Li {_fmt(hi_li)} + highest states up to their "
            f"maxima) < 2·O + F ≥ {_fmt(4 - spec.f_max)}; add higher-valent species, raise their maxima, "
            "lower li_min or raise f_max"
        )
    lo_charge = spec.li_max + _greedy_charge(spec, need, highest=False)
    if lo_charge > 4 - spec.f_min + 1e-9:
        return (
            f"{_ranges(spec)}: the species' charges are too high; cation charge is "
            f"at least {_fmt(lo_charge)} e per formula unit (Li {_fmt(spec.li_max)} + lowest states) > "
            f"2·O + F ≤ {_fmt(4 - spec.f_min)}; add lower-valent species, raise li_max or lower f_min"
        )
    return None


def _greedy_charge(spec: CampaignSpec, amount: float, highest: bool) -> float:
    """Largest (or smallest) metal charge of ``amount`` filled from the highest (lowest) states."""
    total, left = 0.0, amount
    for s in sorted(spec.species, key=lambda s: s.oxidation_state, reverse=highest):
        take = min(left, s.max_amount)
        total += take * s.oxidation_state
        left -= take
    return total


def _diagnose(spec: CampaignSpec) -> str:
    """Relax one constraint at a time and name the first one whose relaxation admits a candidate."""
    counts = f" and {spec.min_metals}–{spec.max_metals} metal elements"
    where = _ranges(spec).replace(" and F in", ", F in") + counts
    replace = dataclasses.replace
    n_el = len(spec.metal_elements)
    widen = [spec.step * 2**k for k in range(round(2 / spec.step).bit_length() + 1)]  # the nearest example
    excludes = "excludes every balanced composition; e.g. {formula}"
    relaxations = [
        (
            [replace(spec, min_metals=1, max_metals=n_el)],
            "the metal-count limits (min_metals = {min}, max_metals = {max}) exclude every balanced "
            "composition; e.g. {formula} balances with {k} metals",
        ),
        (
            [replace(spec, f_min=max(0.0, spec.f_min - w), f_max=min(2.0, spec.f_max + w)) for w in widen],
            "the F range [{f_min}, {f_max}] " + excludes + " needs F = {f}",
        ),
        (
            [
                replace(spec, li_min=max(0.0, spec.li_min - w), li_max=min(2.0, spec.li_max + w))
                for w in widen
            ],
            "the Li range [{li_min}, {li_max}] " + excludes + " needs Li = {li}",
        ),
        (
            [replace(spec, species=tuple(replace(s, max_amount=2.0) for s in spec.species))],
            "the species maxima exclude every balanced composition; e.g. {formula} needs {ox}",
        ),
    ]
    for tries, template in relaxations:
        found = next((c for c in map(_first, tries) if c is not None), None)
        if found is not None:
            ox = ", ".join(f"{label} = {_fmt(a)}" for label, a in found.oxidation_states.items())
            return (
                where
                + ": "
                + template.format(
                    min=spec.min_metals,
                    max=spec.max_metals,
                    formula=found.formula,
                    k=sum(el not in ("Li", "O", "F") for el in found.amounts),
                    f=_fmt(found.f),
                    li=_fmt(found.amounts["Li"]),
                    f_min=_fmt(spec.f_min),
                    f_max=_fmt(spec.f_max),
                    li_min=_fmt(spec.li_min),
                    li_max=_fmt(spec.li_max),
                    ox=ox,
                )
            )
    labels = ", ".join(s.label for s in spec.species)
    return (
        f"{where.replace('charge balance', 'charge balance Σ q·n = 2·O + F')} using {labels} on a grid of "
        f"step {_fmt(spec.step)}; a finer step or other species may help"
    )


def _first(spec: CampaignSpec) -> Candidate | None:
    if _quick_diagnosis(spec):
        return None
    space = _Space(spec)
    for block in space.blocks(1):
        return candidates_of(block)[0]
    return None

"""Small writers of valid data files (DRX-TD JSON, cycler CSV) for tests to corrupt."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def curve(v: np.ndarray, cap: float) -> np.ndarray:
    """A sloping DRX-like Q(V), mAh/g, zero at the highest voltage."""
    q = cap / (1 + np.exp((v - 3.0) / 0.4))
    return q - q.min()


def drx_td_doc(
    composition: dict | None = None,
    cycles: int = 3,
    cap: float = 240.0,
    rate: float = 20.0,
    window: tuple[float, float] = (1.5, 4.8),
) -> dict:
    v = np.linspace(window[0], window[1], 100)
    disc = []
    for c in range(1, cycles + 1):
        q = curve(v, cap - 4 * (c - 1))
        disc.append(
            {
                "cycle_num": c,
                "V_std": v.tolist(),
                "Q_std": q.tolist(),
                "Q0_std": curve(v, cap).tolist(),
                "dQdV_std": np.gradient(q, v).tolist(),
            }
        )
    return {
        "composition": composition or {"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2.0},
        "test_current(mA/g)": rate,
        "low_voltage(V)": window[0],
        "high_voltage(V)": window[1],
        "active_mass(g)": 0.0021,
        "discharge_list": disc,
    }


def write_drx_td(path: Path, **kw) -> Path:
    path.write_text(json.dumps(drx_td_doc(**kw)))
    return path


def cycler_table(
    cycles: int = 2,
    cap_mah_g: float = 230.0,
    mass_g: float = 0.002,
    rate_ma_g: float = 20.0,
    points: int = 200,
) -> tuple[list[str], np.ndarray]:
    """Rows (time s, voltage V, current mA, capacity mAh, cycle) of charge/discharge cycles."""
    rows, t = [], 0.0
    i_ma = rate_ma_g * mass_g
    for c in range(1, cycles + 1):
        cap = cap_mah_g - 3 * (c - 1)
        hours = cap / rate_ma_g
        for k in range(points):  # charge
            rows.append((t, 1.5 + 3.3 * k / points, i_ma, 0.0, c))
            t += hours * 3600 / points
        v = np.linspace(4.8, 1.5, points)
        q_mah_g = curve(v, cap)
        for k in range(points):  # discharge: negative current
            rows.append((t + q_mah_g[k] / rate_ma_g * 3600, v[k], -i_ma, q_mah_g[k] * mass_g, c))
        t += hours * 3600 + 10
    return ["Test_Time(s)", "Voltage(V)", "Current(mA)", "Capacity(mAh)", "Cycle_Index"], np.array(rows)


def write_cycler(path: Path, delimiter: str = ",", drop_capacity: bool = False, **kw) -> Path:
    header, data = cycler_table(**kw)
    if drop_capacity:
        header, data = header[:3] + header[4:], np.delete(data, 3, axis=1)
    lines = [delimiter.join(header)] + [delimiter.join(f"{x:.6g}" for x in row) for row in data]
    path.write_text("\n".join(lines) + "\n")
    return path


def campaign_toml(
    name: str,
    species: dict[str, float],
    *,
    li: tuple[float, float] = (1.1, 1.3),
    f: tuple[float, float] = (0.0, 0.1),
    metals: tuple[int, int] = (2, 4),
    batch: int = 4,
    min_distance: float = 0.1,
    kind: str = "ucb",
    step: float = 0.05,
) -> str:
    """A small campaign file (capacity at 20 mA/g, 1.5–4.8 V, cycle 1) for tests."""
    pool = "\n".join(f'"{sp}" = {amt}' for sp, amt in species.items())
    return (
        f'[campaign]\nname = "{name}"\ndescription = "test space"\n[space]\n'
        f"li = {{ min = {li[0]}, max = {li[1]} }}\nf = {{ min = {f[0]}, max = {f[1]} }}\nstep = {step}\n"
        f"min_metals = {metals[0]}\nmax_metals = {metals[1]}\n[space.species]\n{pool}\n"
        f"[objectives.capacity]\nrate = 20\nwindow = [1.5, 4.8]\ncycle = 1\n"
        f'[acquisition]\nkind = "{kind}"\nkappa = 2.0\nbatch = {batch}\nmin_distance = {min_distance}\n'
    )


def parsed_profiles(
    caps: dict[int, float], window: tuple[float, float] = (1.5, 4.8), points: int = 50
) -> list:
    """Standardised profiles ``cycle -> capacity`` for ``add_test``.

    Capacities in mAh/g, exactly Q at the lowest voltage.
    """
    from drxlab.profiles.importers.base import ParsedProfile
    from drxlab.profiles.process import from_standardised

    v = np.linspace(window[0], window[1], points)
    shape = curve(v, 1.0)
    out = []
    for cycle, cap in caps.items():
        q = shape * (cap / shape[0])
        out.append(ParsedProfile(cycle, from_standardised(v, q, np.gradient(q, v))))
    return out


# the smallest DRXNet that still has every part: for tests that need a model version, not a good model
SMALL_ARGS = {
    "elem_fea_len": 8,
    "vol_fea_len": 8,
    "rate_fea_len": 4,
    "cycle_fea_len": 4,
    "n_graph": 1,
    "elem_heads": 1,
    "elem_gate": 8,
    "elem_msg": 8,
    "cry_heads": 1,
    "cry_gate": 8,
    "cry_msg": 8,
}


def add_tested(
    session,
    formula: str,
    caps: dict[int, float],
    *,
    campaign_id: int | None = None,
    rate: float = 20.0,
    status: str = "tested",
):
    """A sample of ``formula`` with one 1.5–4.8 V test of these cycle capacities (mAh/g); the test row."""
    from drxlab.chem import compositions
    from drxlab.store import queries
    from drxlab.workflow import ingest

    amts = compositions.amounts(formula)
    mat = ingest.material(session, formula, amts, compositions.oxidation_states(amts))
    smp = queries.add_sample(session, mat.id, campaign_id=campaign_id, status=status)
    return queries.add_test(session, smp.id, rate=rate, v_low=1.5, v_high=4.8, profiles=parsed_profiles(caps))

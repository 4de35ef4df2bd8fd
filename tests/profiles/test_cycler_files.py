"""Real cycler files from other projects (../shared/cycler-files, see its SOURCES.md).

Reference values are SOURCES.md's (what galvani/navani/fastnda/the instrument report); where it
gives none, the test checks what a careful reading shows: the same run through two readers, or
the instrument's capacity counters against ∫I dt. The files are never copied into the repo.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from drxlab.exceptions import ImportFileError
from drxlab.profiles.importers.cycler import analyse, refusal
from tests.conftest import SHARED, require_binary, require_shared

FILES = SHARED / "cycler-files"

# file -> (formats, counted discharges, capacities in mAh of the first cycles as SOURCES.md writes them)
# The stated digits set the tolerance together with 1 %: "0.88" stands for 0.875-0.885.
REFERENCE: dict[str, tuple[str, int, str]] = {
    "biologic-mpr/jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr": (
        "biologic-mpr",
        6,
        "0.85 0.88 0.88 0.88 0.88 0.88",
    ),
    "biologic-mpr/FK155_JLGU_GE_50-2_15_m1p233mg_Li_LP30_RT_rate_stability_20230906_02_GCPL_C07.mpr": (
        "biologic-mpr",
        1,
        "0.564",
    ),
    "biologic-mpr/gcpl.pr_182.1.mpr": ("biologic-mpr", 4, "3.25 2.25 2.12 2.09"),
    "biologic-mpt/gcpl.pr_182.1.mpt": ("biologic-mpt", 4, "3.25 2.25 2.12 2.09"),
    "biologic-mpr/gcpl.issue_149.mpr": ("biologic-mpr", 4, ""),
    "biologic-mpt/gcpl.issue_149.mpt": ("biologic-mpt", 4, ""),
    "biologic-mpr/gcpl.issue_211.mpr": ("biologic-mpr", 5, ""),
    "biologic-mpt/gcpl.issue_211.mpt": ("biologic-mpt", 5, ""),
    "biologic-mpt/gcpl.issue_226.I.mpt": ("biologic-mpt", 1, ""),
    "biologic-mpr/mb.issue_95.mpr": ("biologic-mpr", 1, ""),
    "biologic-mpt/mb.issue_95.mpt": ("biologic-mpt", 1, ""),
    "biologic-mpt/mb.issue_95.de.mpt": ("biologic-mpt", 1, ""),
    "arbin-res/arbin_example.res": ("arbin-res", 4, "0.475 0.475 0.475 0.475"),
    "arbin-csv/arbin_example.csv": ("arbin-csv", 2, ""),
    "arbin-xlsx/bs542_004_gr_li_50ua_50mv_1v_191020_Channel_11.xlsx": ("xlsx", 2, "5.80 5.26"),
    "neware-ndax/test.ndax": ("neware-ndax", 1, "0.6255"),
    # SOURCES: "Q_dis 0.324 -> 0.13 mAh by cycle 6"; 160 instrument cycles, one a 2-point blip
    "neware-ndax/nw4-120-1-6-53.ndax": ("neware-ndax", 159, "0.324"),
    # SOURCES: 22 cycles, Q_dis ≈ 1.03 mAh; the run holds 22 charges but its last charge has no discharge
    "neware-ndax/BTS85-36-6-5-110-20240424.ndax": ("neware-ndax", 21, "1.03 1.03 1.04"),
    # fastnda (auto) and navani count 2 cycles (NewareNDA 3)
    "neware-nda/TestFile.nda": ("neware-nda", 2, ""),
    "landt/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.csv": ("landt-csv", 2, "6.3 1.3"),
    "generic-csv/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv": ("bdf-csv", 2, "6.3 1.3"),
    # SOURCES gives Q_dis 1.94, 1.84, 1.75 Ah for cycles 86-88; a 4th discharge to 2.7 V follows (cycle 89)
    "maccor/PredictionDiagnostics_000109_tztest.010": ("maccor", 4, "1940 1840 1750"),
    "maccor/maccor_002.txt": ("maccor", 2, ""),
    "maccor/PreDiag_000229_000229_truncated.034": ("maccor", 1, ""),
    # Neware's own DChg. Spec. Cap. 2250, 1954, 1937, 1594 mAh/g at 2.08 mg; drxlab also counts the
    # second full discharge inside Neware's cycle 3 (step 11), so the reference cycles are 1, 2, 3, 5
    "neware-csv/neware_uio.csv": ("neware-csv", 5, "4.680 4.064 4.029"),
    "neware-csv/nw_regular_export_ife_example.csv": ("neware-csv", 20, "331 332"),
}
REFUSED = {  # file -> fragment of the one-line refusal
    "biologic-mpr/biol.mpr": "charge only",
    "neware-nda/nda_v22.nda": "charge only",
    "neware-ndax/123456789012_Unit27_Example_Data_File.ndax": "no discharge segment",
    "biologic-mpr/mb.issue_223.mpr": "no discharge segment",
    "arbin-res/mits7-0.res.gz": "no discharge segment",
}
TWINS = [
    ("biologic-mpr/gcpl.pr_182.1.mpr", "biologic-mpt/gcpl.pr_182.1.mpt"),
    ("biologic-mpr/gcpl.issue_149.mpr", "biologic-mpt/gcpl.issue_149.mpt"),
    ("biologic-mpr/gcpl.issue_211.mpr", "biologic-mpt/gcpl.issue_211.mpt"),
    ("biologic-mpr/mb.issue_95.mpr", "biologic-mpt/mb.issue_95.mpt"),
    ("biologic-mpt/mb.issue_95.mpt", "biologic-mpt/mb.issue_95.de.mpt"),
    (
        "landt/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.csv",
        "generic-csv/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.bdf.csv",
    ),
]


def _file(rel: str) -> Path:
    path = require_shared(FILES / rel)
    if path.suffix == ".res" or rel.endswith(".res.gz"):
        _need_mdb_export()
    return path


def _need_mdb_export() -> None:
    require_binary("mdb-export")  # Debian package mdbtools


def _all_files() -> list[str]:
    if not FILES.exists():
        return sorted(REFERENCE) + sorted(REFUSED)
    return sorted(
        str(p.relative_to(FILES)) for p in FILES.rglob("*") if p.is_file() and p.suffix not in (".md", ".mpl")
    )


def _tolerance(text: str) -> float:
    """Half a unit of the last digit SOURCES.md states (0.88 -> 0.005)."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return 0.5 * 10.0**-decimals


@pytest.mark.parametrize("rel", _all_files())
def test_every_file_is_read_or_refused_in_one_line(rel: str) -> None:
    """Held-out files of these formats go through the same path: a result or one ImportFileError line."""
    path = _file(rel)
    try:
        a = analyse(path)
    except ImportFileError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    why = refusal(a)
    assert (why is None) == bool(a.segmentation.counted)
    for s in a.segmentation.segments:
        assert s.capacity.size == s.stop - s.start and np.all(np.diff(s.capacity) >= -1e-9)
    # the import step: DRXNet-standard profiles, or one clear line (window below 0 V, a cut cycle ...)
    from drxlab.profiles.importers.cycler import to_test
    from drxlab.profiles.process import N_POINTS

    mass = a.mass_g or (a.segmentation.counted[0].q_mAh / 200.0 if a.segmentation.counted else 0.001)
    try:
        test = to_test(analyse(path, active_mass=None if a.mass_g else mass), composition="Li1.2Mn0.4Ti0.4O2")
    except ImportFileError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    cycles = [p.cycle for p in test.profiles]
    assert cycles == sorted(set(cycles)) and set(cycles) <= set(range(1, len(a.segmentation.counted) + 1))
    # a counted cycle left out of the import is named in the test's notes
    left_out = [n for n in test.extra["notes"] if "left out" in n]
    assert len(cycles) + len(left_out) == len(a.segmentation.counted)
    assert all(
        p.profile.voltage.shape == (N_POINTS,) and p.profile.dqdv.shape == (N_POINTS,) for p in test.profiles
    )


def test_every_shared_file_has_an_expectation() -> None:
    require_shared(FILES)
    unknown = set(_all_files()) - set(REFERENCE) - set(REFUSED) - NO_REFERENCE
    assert not unknown, f"add the new files to a table here: {sorted(unknown)}"


@pytest.mark.parametrize("rel", sorted(REFERENCE))
def test_cycles_and_capacities_match_sources(rel: str) -> None:
    fmt, cycles, q_text = REFERENCE[rel]
    a = analyse(_file(rel))
    assert a.run.fmt == fmt
    counted = a.segmentation.counted
    assert len(counted) == cycles
    assert [s.cycle for s in counted] == list(range(1, cycles + 1))
    for seg, ref in zip(counted, q_text.split()):
        assert seg.q_mAh == pytest.approx(float(ref), rel=0.01, abs=_tolerance(ref)), (seg.cycle, ref)


@pytest.mark.parametrize("rel", sorted(REFUSED))
def test_files_without_a_discharge_are_refused_clearly(rel: str) -> None:
    a = analyse(_file(rel))
    assert REFUSED[rel] in refusal(a)
    from drxlab.profiles.importers.cycler import to_test

    with pytest.raises(ImportFileError, match=REFUSED[rel]):
        to_test(a, composition="Li1.2Mn0.4Ti0.4O2")


@pytest.mark.parametrize(("one", "two"), TWINS)
def test_twin_files_of_one_run_agree(one: str, two: str) -> None:
    a, b = analyse(_file(one)), analyse(_file(two))
    qa = [s.q_mAh for s in a.segmentation.counted]
    qb = [s.q_mAh for s in b.segmentation.counted]
    assert len(qa) == len(qb) and qa
    np.testing.assert_allclose(qa, qb, rtol=0.005)
    assert refusal(a) == refusal(b)


def test_jdb11_initial_partial_discharge_is_reported_not_counted() -> None:
    path = _file("biologic-mpr/jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr")
    a = analyse(path)
    (initial,) = [s for s in a.segmentation.segments if s.kind == "initial"]
    assert initial.cycle == 0 and initial.q_mAh == pytest.approx(0.21, abs=0.005)
    assert any("partial discharge from OCV" in n for n in a.segmentation.notes)
    kept = analyse(path, keep_initial=True)
    assert [round(s.q_mAh, 2) for s in kept.segmentation.counted][:2] == [0.21, 0.85]


def test_masses_from_headers_logs_and_the_neware_specific_capacity_column() -> None:
    assert analyse(_file("biologic-mpt/gcpl.issue_211.mpt")).mass_g == pytest.approx(0.790e-3)
    assert analyse(_file("biologic-mpt/gcpl.issue_226.I.mpt")).mass_g == pytest.approx(1.390e-3)
    fk = "biologic-mpr/FK155_JLGU_GE_50-2_15_m1p233mg_Li_LP30_RT_rate_stability_20230906_02_GCPL_C07.mpr"
    assert analyse(_file(fk)).mass_g == pytest.approx(1.260e-3)  # from the .mpl log beside it
    uio = analyse(_file("neware-csv/neware_uio.csv"))
    assert uio.mass_g == pytest.approx(2.08e-3, rel=0.01)
    spec = [s.q_mAh / uio.mass_g for s in uio.segmentation.counted]
    np.testing.assert_allclose([spec[0], spec[1], spec[2], spec[4]], [2250, 1954, 1937, 1594], rtol=0.01)
    with pytest.raises(ImportFileError, match=r"contradicts .*0\.00079 g"):
        analyse(_file("biologic-mpt/gcpl.issue_211.mpt"), active_mass=0.001)
    assert analyse(_file("biologic-mpt/gcpl.issue_211.mpt"), active_mass=0.000795).mass_g == 0.000795


@pytest.mark.parametrize(
    ("rel", "unit"),
    [
        ("maccor/maccor_three.txt", "Volts ×0.001"),  # mV under a 'Volts' header
        ("maccor/maccor_002.txt", "sign from Md"),  # unsigned current, direction from the C/D column
        ("arbin-csv/arbin_example.csv", "Current ×1000"),  # Arbin database columns: A without a unit
        ("arbin-res/arbin_example.res", "Current ×1000"),
    ],
)
def test_units_are_detected(rel: str, unit: str) -> None:
    a = analyse(_file(rel))
    assert any(unit in v for v in a.run.units.values()), a.run.units


# Files SOURCES.md lists without reference values: their capacity counters against ∫I dt
NO_REFERENCE = {
    "biologic-mpr/gcpl.issue_175.mpr",
    "neware-ndax/test_2.ndax",
    "neware-nda/nda8.nda.zip",
    "maccor/maccor_three.txt",
    "arbin-res/20160805_test001_45_cc_01.res",
    "neware-nda/new_nda_file.nda",
    "generic-csv/p492-13-raw.csv",
}


@pytest.mark.parametrize(
    "rel",
    sorted(
        NO_REFERENCE
        | {
            "arbin-csv/arbin_example.csv",
            "maccor/maccor_002.txt",
            "neware-ndax/test.ndax",
            "arbin-res/arbin_example.res",
        }
    ),
)
def test_capacity_counters_agree_with_integrated_current(rel: str) -> None:
    a = analyse(_file(rel))
    run = a.run
    checked = 0
    big = max(s.q_mAh for s in a.segmentation.counted)
    for s in a.segmentation.counted:
        # a discharge of a few sampling intervals is dominated by where the first interval starts
        if s.stop - s.start < 20 or s.q_mAh < 0.1 * big:
            continue
        t, i = run.time[s.start - 1 : s.stop], run.current[s.start - 1 : s.stop]
        q_int = float(np.sum(-i[1:] * np.diff(t))) / 3600.0
        assert s.q_mAh == pytest.approx(q_int, rel=0.03), (s.cycle, s.q_mAh, q_int)
        checked += 1
    assert checked >= 1


def test_reader_for_gcpl_without_current_matches_its_text_export_current() -> None:
    """EC-Lab GCPL .mpr has no I/mA column: dq/dt must match the .mpt's <I>/mA."""
    mpr = analyse(_file("biologic-mpr/gcpl.pr_182.1.mpr")).run
    mpt = analyse(_file("biologic-mpt/gcpl.pr_182.1.mpt")).run
    busy = np.abs(mpt.current) > 0.5 * np.abs(mpt.current).max()
    np.testing.assert_allclose(np.median(mpr.current[busy]), np.median(mpt.current[busy]), rtol=0.02)


@pytest.mark.parametrize("rel", ["neware-ndax/nw4-120-1-6-53.ndax", "generic-csv/p492-13-raw.csv"])
def test_one_unusable_late_cycle_is_left_out_and_named_not_the_whole_run(rel: str) -> None:
    from drxlab.profiles.importers.cycler import to_test

    a = analyse(_file(rel))
    mass = a.mass_g or a.segmentation.counted[0].q_mAh / 200.0
    test = to_test(
        analyse(_file(rel), active_mass=None if a.mass_g else mass), composition="Li1.2Mn0.4Ti0.4O2"
    )
    left_out = [n for n in test.extra["notes"] if "left out" in n]
    assert left_out and all("rows" in n and "need at least" in n for n in left_out)
    assert len(test.profiles) == len(a.segmentation.counted) - len(left_out) > 1

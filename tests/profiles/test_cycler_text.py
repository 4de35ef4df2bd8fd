"""Property tests of the cycler text parser: the same run written the ways instruments write it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drxlab.exceptions import ImportFileError
from drxlab.profiles.importers.cycler import analyse
from tests.factories import cycler_table

HEADER, DATA = cycler_table(cycles=2, points=60, mass_g=0.002)
# discharge capacity per cycle (mAh), from the table itself
Q_REF = [float(DATA[(DATA[:, 4] == c) & (DATA[:, 2] < 0), 3].max()) for c in (1, 2)]


@st.composite
def exports(draw: st.DrawFn) -> tuple[bytes, str]:
    delim = draw(st.sampled_from([",", "\t", ";"]))
    decimal = draw(st.sampled_from([".", ","])) if delim != "," else "."
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    amps = draw(st.booleans())  # A/Ah instead of mA/mAh
    millivolts = draw(st.booleans())
    unsigned = draw(st.booleans())  # Maccor-style |I| plus a C/D/R state column
    n_head = draw(st.integers(0, 80))
    encoding = draw(st.sampled_from(["utf-8", "latin-1"]))
    names = [
        "Test_Time(s)",
        "Voltage(mV)" if millivolts else "Voltage(V)",
        "Current(A)" if amps else "Current(mA)",
        "Capacity(Ah)" if amps else "Capacity(mAh)",
        "Cycle_Index",
    ] + (["State"] if unsigned else [])
    head = [f"Comment {k}: cellule d'essai µ°{k}{delim}" for k in range(n_head)]
    rows = []
    for t, v, i, q, c in DATA:
        vals = [
            t,
            v * (1000 if millivolts else 1),
            (abs(i) if unsigned else i) / (1000 if amps else 1),
            q / (1000 if amps else 1),
            c,
        ]
        cells = [f"{x:.9g}".replace(".", decimal) for x in vals]
        if unsigned:
            cells.append("D" if i < 0 else "C" if i > 0 else "R")
        rows.append(delim.join(cells))
    text = newline.join(head + [delim.join(names)] + rows) + newline
    return text.encode(
        encoding
    ), f"{delim!r} {decimal!r} {newline!r} A={amps} mV={millivolts} |I|={unsigned} {n_head}"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(exports())
def test_same_run_any_locale_unit_and_header(tmp_path: Path, export: tuple[bytes, str]) -> None:
    data, what = export
    path = tmp_path / "run.txt"
    path.write_bytes(data)
    a = analyse(path, active_mass=0.002)
    q = [s.q_mAh for s in a.segmentation.counted]
    assert len(q) == 2, what
    np.testing.assert_allclose(q, Q_REF, rtol=0.005, err_msg=what)
    assert 1.4 < float(a.run.voltage.min()) < 1.6, what


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(1, len(DATA) - 1), st.sampled_from(["\n", "\r\n"]))
def test_a_cut_text_file_reads_what_is_there_or_says_why(tmp_path: Path, keep: int, newline: str) -> None:
    text = newline.join([",".join(HEADER)] + [",".join(f"{x:.9g}" for x in r) for r in DATA[:keep]])
    path = tmp_path / "cut.csv"
    path.write_text(text)
    try:
        a = analyse(path, active_mass=0.002)
    except ImportFileError as exc:
        assert "\n" not in str(exc)
        return
    for s in a.segmentation.counted:
        assert s.q_mAh <= max(Q_REF) * 1.001


def test_unknown_columns_are_listed_with_the_known_names(tmp_path: Path) -> None:
    path = tmp_path / "odd.csv"
    path.write_text("Zeit;Spannung;Strom\n0;3,1;0,1\n")
    with pytest.raises(ImportFileError, match=r"columns seen: \['Zeit', 'Spannung', 'Strom'\].*voltage"):
        analyse(path)

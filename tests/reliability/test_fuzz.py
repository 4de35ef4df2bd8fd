"""Fuzzed inputs: every bad input ends in a drxlab error (one ``Error:`` line), never a crash,
and a rejected import leaves the store byte-for-byte unchanged.

Inputs: composition strings and mappings; DRXNet CSV / DRX-TD JSON / cycler CSV files (valid
ones from tests.factories, then truncated, re-delimited, column-shuffled, poisoned with
NaN/inf/huge values and unicode junk); mutated campaign TOML; random ``predict`` and
``candidates`` arguments. Every distinct rejected input is counted in :data:`BAD`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import re
import tomllib
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymatgen.core.periodic_table import Element

from drxlab.candidates.spec import load_spec
from drxlab.chem import compositions
from drxlab.cli.main import cli
from drxlab.exceptions import CampaignError, CompositionError
from tests.conftest import db_digest
from tests.factories import SMALL_ARGS, cycler_table, drx_td_doc

ROOT = Path(__file__).resolve().parents[2]
BAD: dict[str, set[str]] = defaultdict(set)  # kind → distinct inputs rejected with a clean error
SUSPECT: dict[str, set[str]] = defaultdict(set)  # predict inputs accepted with dubious results (findings)

FUZZ = settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)

SYMBOLS = [e.symbol for e in Element] + ["Xx", "D", "T", "Q", "li", "MN", "Uuo", "e", ""]
NUMBERS = st.one_of(
    st.integers(-5, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        ["", ".", "1e400", "-0", "nan", "inf", "1_0", "½", "٣", "1e-400", "0x10", "1.2.3", "--1"]
    ),
)
JUNK_VALUES = [
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e308",
    "1e309",
    "-1",
    "0",
    "",
    "abc",
    "1,5",
    "null",
    "true",
    "[]",
    "{}",
    '"x"',
    "9" * 400,
    "\u00a0",
    "💥",
    "-1e-320",
]


def _clean(result, kind: str, key: str) -> None:
    """Exit 0, or exit ≠ 0 with exactly one 'Error: ' line and no traceback."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(
            f"{kind}: crash {type(result.exception).__name__}: {result.exception}\ninput: {key[:300]}"
        ) from result.exception
    if result.exit_code != 0:
        errors = [ln for ln in result.output.splitlines() if ln.startswith("Error: ")]
        assert len(errors) == 1, f"{kind}: {result.output[-800:]}"
        assert "Traceback" not in result.output
        BAD[kind].add(key)


# ---------------------------------------------------------------- compositions
formula_text = st.one_of(
    st.text(max_size=40),
    st.lists(st.tuples(st.sampled_from(SYMBOLS), NUMBERS), max_size=8).map(
        lambda p: "".join(a + b for a, b in p)
    ),
    st.tuples(
        st.sampled_from(["Li1.2Mn0.4Ti0.4O2", "Li1.2Mn0.1Mg0.1Cr0.3Ti0.2Nb0.1O1.8F0.2", "LiMnO2"]),
        st.integers(0, 40),
        st.text(max_size=4),
    ).map(lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]),
)


@settings(FUZZ, max_examples=300)
@given(formula_text)
def test_composition_strings(text: str) -> None:
    try:
        amts = compositions.amounts(text)
        assert compositions.normalise(text) == compositions.format_formula(amts)
        assert all(math.isfinite(v) and v >= 0 for v in amts.values())
        compositions.oxidation_states(amts)
    except CompositionError:
        BAD["composition"].add(repr(text))


@settings(FUZZ, max_examples=150)
@given(
    st.dictionaries(
        st.sampled_from(SYMBOLS) | st.text(max_size=3),
        st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.integers(-10, 10**30),
            st.none(),
            st.text(max_size=3),
        ),
        max_size=6,
    )
)
def test_composition_mappings(mapping: dict) -> None:
    try:
        compositions.normalise(mapping)
    except CompositionError:
        BAD["composition"].add(repr(mapping))


# ---------------------------------------------------------------- importer files
def _drxnet_csv(doc: dict) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(
        ["material_id", "composition", "V_low", "V_high", "rate", "cycle", "Vii", "Q0ii", "Qii", "dQdVii"]
    )
    comp = "".join(f"{k}{v}" for k, v in doc["composition"].items())
    for c in doc["discharge_list"]:
        for v, q0, q, d in zip(c["V_std"][::4], c["Q0_std"][::4], c["Q_std"][::4], c["dQdV_std"][::4]):
            w.writerow(
                [
                    "m1",
                    comp,
                    doc["low_voltage(V)"],
                    doc["high_voltage(V)"],
                    doc["test_current(mA/g)"],
                    c["cycle_num"],
                    f"{v:.6g}",
                    f"{q0:.6g}",
                    f"{q:.6g}",
                    f"{d:.6g}",
                ]
            )
    return out.getvalue()


def _cycler_csv(cycles: int) -> str:
    header, data = cycler_table(cycles=cycles, points=40)
    return "\n".join([",".join(header)] + [",".join(f"{x:.6g}" for x in row) for row in data]) + "\n"


def _base(fmt: str, cycles: int, cap: float) -> str:
    doc = drx_td_doc(cycles=cycles, cap=cap)
    if fmt == "drx-td-json":
        return json.dumps(doc)
    if fmt == "drxnet-csv":
        return _drxnet_csv(doc)
    return _cycler_csv(cycles)


def _shuffle_columns(text: str, rng: random.Random, header_only: bool) -> str:
    rows = [ln.split(",") for ln in text.splitlines()]
    perm = list(range(len(rows[0])))
    rng.shuffle(perm)
    return (
        "\n".join(
            ",".join(r[i] for i in perm)
            if (k == 0 or not header_only) and len(r) == len(perm)
            else ",".join(r)
            for k, r in enumerate(rows)
        )
        + "\n"
    )


def _json_mutation(text: str, rng: random.Random, junk: object) -> str:
    try:
        doc = json.loads(text)
    except ValueError:
        return text
    if not isinstance(doc, dict) or not doc:
        return text
    key = rng.choice(sorted(doc))
    op = rng.randrange(4)
    if op == 0:
        del doc[key]
    elif op == 1:
        doc[key] = junk
    elif op == 2 and isinstance(doc.get("discharge_list"), list) and doc["discharge_list"]:
        cyc = rng.choice(doc["discharge_list"])
        k = rng.choice(sorted(cyc))
        if isinstance(cyc[k], list) and cyc[k]:
            cyc[k][rng.randrange(len(cyc[k]))] = junk
            if rng.random() < 0.3:
                del cyc[k][rng.randrange(len(cyc[k])) :]
        else:
            cyc[k] = junk
    else:
        doc["composition"] = junk if rng.random() < 0.5 else {"Li": junk, "Mn": 0.4, "O": 2}
    return json.dumps(doc)


@st.composite
def damaged_file(draw, fmt: str) -> tuple[bytes, list[str]]:
    rng = random.Random(draw(st.integers(0, 2**32)))
    text = _base(fmt, draw(st.integers(1, 3)), draw(st.floats(150, 300)))
    ops = draw(
        st.lists(
            st.sampled_from(
                [
                    "truncate",
                    "delimiter",
                    "shuffle",
                    "shuffle_header",
                    "value",
                    "unicode",
                    "json",
                    "drop_line",
                    "dup_line",
                    "bytes",
                ]
            ),
            min_size=1,
            max_size=3,
        )
    )
    raw = None
    for op in ops:
        if op == "truncate":
            text = text[: draw(st.integers(0, len(text)))]
        elif op == "delimiter":
            text = text.replace(",", draw(st.sampled_from([";", "\t", "|", " ", ";;", ", "])))
        elif op in ("shuffle", "shuffle_header") and "\n" in text.strip() and fmt != "drx-td-json":
            text = _shuffle_columns(text, rng, op == "shuffle_header")
        elif op == "value":
            tokens = list(re.finditer(r"-?\d+(\.\d+)?(e-?\d+)?", text))
            for _ in range(draw(st.integers(1, 3))):
                if tokens:
                    m = rng.choice(tokens)
                    text = text[: m.start()] + draw(st.sampled_from(JUNK_VALUES)) + text[m.end() :]
                    tokens = list(re.finditer(r"-?\d+(\.\d+)?(e-?\d+)?", text))
        elif op == "unicode":
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.text(min_size=1, max_size=8)) + text[at:]
        elif op == "json" and fmt == "drx-td-json":
            junk = draw(
                st.one_of(
                    st.sampled_from([None, True, [], {}, "x", -1, 0, 1e308, 10**40]),
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=5),
                )
            )
            text = _json_mutation(text, rng, junk)
        elif op in ("drop_line", "dup_line"):
            lines = text.splitlines(keepends=True)
            if len(lines) > 1:
                i = rng.randrange(len(lines))
                lines[i : i + 1] = [] if op == "drop_line" else [lines[i], lines[i]]
                text = "".join(lines)
        elif op == "bytes":
            data = text.encode("utf-8", "surrogatepass")
            at = draw(st.integers(0, len(data)))
            raw = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    data = raw if raw is not None else text.encode("utf-8", "surrogatepass")
    args = []
    if fmt == "cycler-csv":
        args = [
            "--composition",
            draw(st.sampled_from(["Li1.2Mn0.4Ti0.4O2", "Li1.2Mn0.4Ti0.4O2", "junk", "LiO2"])),
            "--active-mass",
            draw(st.sampled_from(["0.002", "0.002", "0", "-1", "nan", "1e-300", "inf"])),
        ]
    if draw(st.booleans()):
        args += ["--format", fmt]
    return data, args


class ImportFuzz:
    """A store, a runner and the last known digest of the store."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.db = tmp / "fuzz.sqlite"
        self.runner = CliRunner()
        self.n = 0
        assert self.invoke("init").exit_code == 0
        self.digest = db_digest(self.db)

    def invoke(self, *args: str):
        return self.runner.invoke(cli, ["--db", str(self.db), *args], catch_exceptions=True)

    def run(self, data: bytes, args: list[str], suffix: str) -> None:
        self.n += 1
        path = self.tmp / f"in{self.n}{suffix}"
        path.write_bytes(data)
        r = self.invoke("import", str(path), *args)
        key = f"{suffix}:{' '.join(args)}:{data[:20000]!r}"
        _clean(r, "import", key)
        if r.exit_code != 0:
            assert db_digest(self.db) == self.digest, f"a rejected import changed the store: {r.output}"
        else:
            self.digest = db_digest(self.db)
        path.unlink()


@pytest.fixture(scope="module")
def import_fuzz(tmp_path_factory: pytest.TempPathFactory) -> ImportFuzz:
    return ImportFuzz(tmp_path_factory.mktemp("import-fuzz"))


@settings(FUZZ, max_examples=150)
@given(damaged_file("drx-td-json"), st.sampled_from([".json", ".json", ".txt"]))
def test_import_damaged_drx_td_json(import_fuzz: ImportFuzz, file: tuple, suffix: str) -> None:
    import_fuzz.run(*file, suffix)


@settings(FUZZ, max_examples=150)
@given(damaged_file("drxnet-csv"), st.sampled_from([".csv", ".csv", ".tsv"]))
def test_import_damaged_drxnet_csv(import_fuzz: ImportFuzz, file: tuple, suffix: str) -> None:
    import_fuzz.run(*file, suffix)


@settings(FUZZ, max_examples=150)
@given(damaged_file("cycler-csv"), st.sampled_from([".csv", ".txt"]))
def test_import_damaged_cycler_csv(import_fuzz: ImportFuzz, file: tuple, suffix: str) -> None:
    import_fuzz.run(*file, suffix)


# ---------------------------------------------------------------- campaign files
BASE_SPEC = tomllib.loads((ROOT / "campaigns" / "he-drx.toml").read_text())
TOML_JUNK = st.one_of(
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, (int, str)):
        return json.dumps(v) if isinstance(v, str) else str(v)
    if isinstance(v, list):
        return "[" + ", ".join(map(_toml_value, v)) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"


def to_toml(doc: dict, prefix: str = "") -> str:
    """A small TOML writer: a table's plain values first, then its sub-tables (empty ones inline)."""
    out = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict) or not v]
    for k, v in doc.items():
        if isinstance(v, dict) and v:
            name = f"{prefix}.{json.dumps(k)}" if prefix else json.dumps(k)
            out += [f"\n[{name}]", to_toml(v, name)]
    return "\n".join(out)


def _paths(doc: dict, prefix: tuple = ()) -> list[tuple]:
    out = []
    for k, v in doc.items():
        out.append(prefix + (k,))
        if isinstance(v, dict):
            out += _paths(v, prefix + (k,))
    return out


@st.composite
def mutated_spec(draw) -> str:
    doc = json.loads(json.dumps(BASE_SPEC))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        op = draw(st.sampled_from(["remove", "junk", "negate", "swap", "unknown", "rename", "scale"]))
        value = parent[key]
        if op == "remove":
            del parent[key]
        elif op == "junk":
            parent[key] = draw(TOML_JUNK)
        elif op == "negate" and isinstance(value, (int, float)) and not isinstance(value, bool):
            parent[key] = -value
        elif op == "scale" and isinstance(value, (int, float)) and not isinstance(value, bool):
            parent[key] = value * draw(st.sampled_from([0, 1e-9, 0.5, 3, 1e9]))
        elif op == "swap" and isinstance(value, dict) and {"min", "max"} <= set(value):
            value["min"], value["max"] = value["max"] + 0.05, value["min"]
        elif op == "unknown":
            parent[draw(st.text(min_size=1, max_size=6))] = draw(TOML_JUNK)
        elif op == "rename":
            parent[draw(st.sampled_from(["Mn9+", "Xx2+", "Li1+", "mn2+", "Fe2", "O2-", "Nb5+"]))] = (
                parent.pop(key)
            )
    text = to_toml(doc)
    if draw(st.integers(0, 9)) == 0:  # raw text damage
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.sampled_from(["", "[[", "= =", "\x00", '"', "💥"])) + text[at + 1 :]
    return text


def test_toml_writer_round_trips() -> None:
    assert tomllib.loads(to_toml(BASE_SPEC)) == BASE_SPEC


@settings(FUZZ, max_examples=300)
@given(mutated_spec())
def test_campaign_files(tmp_path: Path, text: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_spec(path)
    except CampaignError:
        BAD["campaign"].add(text)


# ---------------------------------------------------------------- predict / candidates arguments
@pytest.fixture(scope="module")
def model_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from drxlab.model.drxnet import DRXNet
    from drxlab.model.ensemble import Ensemble
    from drxlab.store.db import open_store
    from drxlab.workflow import models

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "m.sqlite"
    store = open_store(path)
    with store.transaction() as s:
        models.register(s, Ensemble([DRXNet(**SMALL_ARGS), DRXNet(**SMALL_ARGS)]), source="trained")
    store.engine.dispose()
    return path


NUM_ARG = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**6), 10**20).map(str),
    st.sampled_from(["20", "1.5", "4.8", "abc", "", "1e309", "1e308", "1e30", "-5", "-0", "0x1", "½"]),
)


VALID = ["Li1.2Mn0.4Ti0.4O2", "Li1.2Mn0.6Nb0.2O2", "Li1.2Mn0.1Mg0.1Cr0.3Ti0.2Nb0.1O1.8F0.2"]


@settings(FUZZ, max_examples=150)
@given(
    st.lists(st.sampled_from(VALID), min_size=1, max_size=2),
    st.one_of(st.none(), formula_text),
    st.lists(st.sampled_from(["rate", "window", "cycle"]), unique=True),
    NUM_ARG,
    NUM_ARG,
    NUM_ARG,
    NUM_ARG,
)
def test_predict_arguments(
    model_db: Path, comps: list[str], junk: str | None, opts: list[str], a: str, b: str, c: str, d: str
) -> None:
    args = ["predict", *comps, *([junk] if junk else []), "--json"]
    if "rate" in opts:
        args += ["--rate", a]
    if "window" in opts:
        args += ["--window", b, c]
    if "cycle" in opts:
        args += ["--cycle", d]
    r = CliRunner().invoke(cli, ["--db", str(model_db), *args], catch_exceptions=True)
    _clean(r, "predict", repr(args))
    if r.exit_code == 0:  # accepted: note results no lab could use (reported, not failed)
        for row in json.loads(r.stdout):
            if not np.isfinite(row["capacity_mAh_g"]):
                SUSPECT["non-finite capacity"].add(repr(args))
            if not 0 < row["v_low_V"] < row["v_high_V"] <= 10:
                SUSPECT["window outside 0-10 V"].add(repr(args))
            if row["rate_mA_g"] > 1e6 or row["cycle"] > 1e4:
                SUSPECT["rate > 1e6 mA/g or cycle > 1e4"].add(repr(args))


@settings(FUZZ, max_examples=80)
@given(
    st.one_of(
        st.sampled_from(
            ["campaigns/li-mn-o-f.toml", "campaigns/missing.toml", "campaigns", "no-such-name", "", "he-drx"]
        ),
        st.text(max_size=12),
    ),
    st.one_of(st.none(), NUM_ARG),
    st.booleans(),
)
def test_candidates_arguments(db_path: Path, ref: str, head: str | None, count: bool) -> None:
    args = ["candidates", "--campaign", str(ROOT / ref) if ref.startswith("campaigns") else ref]
    if head is not None:
        args += ["--head", head]
    if count:
        args.append("--count")
    r = CliRunner().invoke(cli, ["--db", str(db_path), *args], catch_exceptions=True)
    _clean(r, "candidates", repr(args))


# ---------------------------------------------------------------- the tally
def test_zz_bad_inputs_tally(capsys: pytest.CaptureFixture) -> None:
    """Runs last in this file: how many distinct bad inputs were tried (and cleanly rejected)."""
    total = sum(len(v) for v in BAD.values())
    with capsys.disabled():
        print(
            f"\nfuzz: {total} distinct bad inputs rejected cleanly "
            f"({', '.join(f'{k} {len(v)}' for k, v in sorted(BAD.items()))}); "
            f"predict accepted dubious inputs: { ({k: len(v) for k, v in SUSPECT.items()}) }"
        )
    if len(BAD) >= 5:  # the whole file ran (not a -k selection)
        assert total >= 300

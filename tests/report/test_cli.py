"""`drxlab report`: one self-contained file, the same numbers as --json, edge cases with notes."""

from __future__ import annotations

import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from drxlab.report.render import HEADINGS
from tests.conftest import db_digest
from tests.report.conftest import subset_screen, ten_rounds

VOID = {"meta", "img", "br", "hr", "link", "input"}


class StrictParser(HTMLParser):
    """html.parser that records unbalanced tags and every src/href value."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.refs += [v for k, v in attrs if k in ("src", "href")]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unbalanced </{tag}>")


def parse_html(text: str) -> StrictParser:
    p = StrictParser()
    p.feed(text)
    p.close()
    assert not p.errors and not p.stack, (p.errors, p.stack)
    return p


def test_html_report_is_self_contained_and_read_only(run, three_rounds, tmp_path: Path) -> None:
    out = tmp_path / "out" / "r.html"
    before = db_digest(three_rounds.path)
    r = run("report", "--campaign", "he-drx", "--out", out, db=three_rounds.path)
    assert r.exit_code == 0, r.output
    assert db_digest(three_rounds.path) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["r.html"]
    text = out.read_text()
    for heading in HEADINGS.values():
        assert heading in text
    assert not re.search(r"https?://", text)
    p = parse_html(text)
    assert len(p.refs) == 5 and all(ref.startswith("data:image/png;base64,") for ref in p.refs)
    assert len(re.findall(r"src=", text)) == 5
    assert "cycle-1 fallback (40 mA/g)" in text and "Failed sample(s)" in text


def test_markdown_writes_figures_beside_it(run, three_rounds, tmp_path: Path) -> None:
    out = tmp_path / "r.md"
    r = run("report", "--campaign", "he-drx", "--out", out, db=three_rounds.path)  # format from the suffix
    assert r.exit_code == 0, r.output
    text = out.read_text()
    for heading in HEADINGS.values():
        assert f"## {heading}" in text
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links == [f"r_files/{n}.png" for n in ("progress", "parity", "calibration", "curves", "space")]
    for link in links:
        assert (tmp_path / link).read_bytes().startswith(b"\x89PNG")


def test_json_prints_the_report_numbers(run, three_rounds, tmp_path: Path) -> None:
    r = run("report", "--campaign", "he-drx", "--out", tmp_path / "r.html", "--json", db=three_rounds.path)
    assert r.exit_code == 0, r.output
    numbers = json.loads(r.stdout)
    assert [x["round"] for x in numbers["rounds"]] == [1, 2, 3]
    assert [x["compared"] for x in numbers["rounds"]] == [4, 3, 2]
    assert {"best_so_far", "predicted_best", "mae"} <= set(numbers["rounds"][0])
    assert [c["model_version"] for c in numbers["coverage"]][-1] is None
    assert numbers["objective"] == {
        "name": "capacity",
        "kind": "capacity",
        "rate_mA_g": 20.0,
        "window_V": [1.5, 4.8],
        "cycle": 1,
        "unit": "mAh/g",
    }


def test_unknown_campaign_exits_with_a_clear_error(run, three_rounds, tmp_path: Path) -> None:
    r = run("report", "--campaign", "nope", "--out", tmp_path / "r.html", db=three_rounds.path)
    assert r.exit_code == 1 and "campaign 'nope' not found" in r.output and "he-drx" in r.output
    assert not (tmp_path / "r.html").exists()


@pytest.mark.parametrize(
    ("case", "figures", "notes"),
    [
        (
            "empty_campaign",
            ["Composition map"],
            [
                "No samples in this campaign yet",
                "No suggested sample has a measurement yet",
                "No tested suggested sample yet",
                "only candidates of the space",
                "No suggestions recorded",
            ],
        ),
        (
            "proposed_only",
            ["Best measured", "Composition map"],
            [
                "No measured capacity yet",
                "4 suggested sample(s) are not measured yet",
                "calibration needs measured values",
                "No tested suggested sample yet",
            ],
        ),
        (
            "with_failure",
            ["Best measured", "Composition map"],
            ["Failed sample(s)", "No measured capacity yet", "calibration needs measured values"],
        ),
    ],
)
def test_edge_cases_render_with_notes(
    run, request, tmp_path: Path, case: str, figures: list[str], notes: list[str]
) -> None:
    v = request.getfixturevalue(case)
    for fmt in ("html", "md"):
        out = tmp_path / f"r.{fmt}"
        r = run("report", "--campaign", "he-drx", "--out", out, "--format", fmt, db=v.path)
        assert r.exit_code == 0, r.output
        text = out.read_text()
        for heading in HEADINGS.values():
            assert heading in text
        for note in notes:
            assert note in text, note
    p = parse_html((tmp_path / "r.html").read_text())
    alts = re.findall(r'<img alt="([^"]*)"', (tmp_path / "r.html").read_text())
    assert len(p.refs) == len(figures)
    for name in figures:
        assert any(name.lower() in a.lower() for a in alts), name


@pytest.mark.slow
def test_report_time_for_ten_rounds_of_eight(run, tmp_path: Path, ensembles, capsys) -> None:
    v = ten_rounds(tmp_path / "lab.sqlite", ensembles, subset_screen(ensembles[0]))
    start = time.perf_counter()
    r = run("report", "--campaign", "he-drx", "--out", tmp_path / "r.html", "--json", db=v.path)
    elapsed = time.perf_counter() - start
    assert r.exit_code == 0, r.output
    numbers = json.loads(r.stdout)
    assert (
        len(numbers["samples"]) == 80 and len(numbers["rounds"]) == 10 and len(numbers["curve_panels"]) == 12
    )
    with capsys.disabled():
        print(f"\nreport of 10 rounds / 80 samples: {elapsed:.1f} s")
    assert elapsed <= 60

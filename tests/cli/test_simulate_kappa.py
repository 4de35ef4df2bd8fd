"""simulate --kappa: the UCB weight reaches every simulated campaign; a negative one is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from drxlab.workflow import simulate
from tests.factories import campaign_toml

SPEC = campaign_toml("simk", {"Mn3+": 0.3, "Cr3+": 0.2, "Ti4+": 0.3, "Nb5+": 0.2}, batch=2)


def test_negative_kappa_is_refused_before_any_work(run, tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(SPEC)
    r = run("simulate", "--campaign", tmp_path / "s.toml", "--kappa", "-1", "--out", tmp_path / "o")
    assert r.exit_code != 0 and "Error:" in r.output and "--kappa" in r.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("args", "expected"), [((), None), (("--kappa", "1"), 1.0)])
def test_kappa_reaches_the_simulation(run, tmp_path: Path, monkeypatch, args, expected) -> None:
    (tmp_path / "s.toml").write_text(SPEC)
    seen = {}

    def fake(store, spec_path, oracle, **kw):  # the plan simulate hands over, without simulating
        seen.update(kw)
        raise SystemExit(0)

    monkeypatch.setattr(simulate, "run_simulation", fake)
    run("simulate", "--campaign", tmp_path / "s.toml", "--out", tmp_path / "o", *args)
    assert seen["kappa"] == expected

"""Calibrated σ through the CLI: suggest stores it with the model version, predict and status show it,
a corrupt record stops suggest and predict with a clear error and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

from sqlmodel import select

from tests.conftest import store_digest
from tests.factories import campaign_toml


def test_calibration_shown_stored_and_guarded(run, db_url: str, upstream: Path, tmp_path: Path) -> None:
    from drxlab.store.db import open_store
    from drxlab.store.tables import ModelVersion

    assert run("model", "import-drxnet", upstream / "pretrained").exit_code == 0
    spec = tmp_path / "small.toml"
    spec.write_text(
        campaign_toml("small", {"Mn3+": 0.3, "Cr3+": 0.2, "Ti4+": 0.3, "Nb5+": 0.2}, metals=(3, 4))
    )
    r = run("suggest", "--campaign", spec, "-n", "2", "--calibration", "scale")
    assert r.exit_code == 0, r.output
    assert "only 0 measured compositions (< 5)" in r.output and "σ calibrated (mAh/g)" in r.output
    out = json.loads(run("predict", "Li1.2Mn0.4Ti0.4O2", "--json").output)[0]
    assert out["sigma_calibrated_mAh_g"] > out["sigma_mAh_g"] and "campaign small" in out["calibration"]
    st = run("status")
    assert "calibration: small (scale" in st.output and "σ calibrated (mAh/g)" in st.output

    store = open_store(db_url)
    with store.transaction() as s:
        row = s.exec(select(ModelVersion)).first()
        metrics = json.loads(row.metrics_json)
        metrics["calibration"]["small"]["record"]["tau"] = 0.0  # edited behind drxlab's back
        row.metrics_json = json.dumps(metrics)
        s.add(row)
    before = store_digest(db_url)
    for args in (("suggest", "--campaign", "small", "-n", "1"), ("predict", "Li1.2Mn0.4Ti0.4O2")):
        r = run(*args)
        assert r.exit_code != 0
        assert "Error: calibration of model version 1" in r.output and "is corrupt" in r.output, r.output
    assert store_digest(db_url) == before
    # the raw ensemble does not need the record
    assert run("suggest", "--campaign", "small", "-n", "1", "--calibration", "none").exit_code == 0
    with store.transaction() as s:
        row = s.exec(select(ModelVersion)).first()
        metrics = json.loads(row.metrics_json)
        del metrics["calibration"]["small"]["record"]
        row.metrics_json = json.dumps(metrics)
        s.add(row)
    r = run("predict", "Li1.2Mn0.4Ti0.4O2")
    assert r.exit_code != 0 and "missing its record or its sha256" in r.output, r.output

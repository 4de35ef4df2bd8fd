"""Model registry commands: released import, download with hash checks, predict, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import store_digest, without_store_line

pytestmark = pytest.mark.both_backends  # every test using `run` runs on SQLite and PostgreSQL


def test_pull_from_local_server_registers_verified_ensemble(run, upstream: Path, serve) -> None:
    url = serve(upstream / "pretrained")
    r = run("model", "pull", "--base-url", url)
    assert r.exit_code == 0, r.output
    assert "sha256 verified" in r.output
    (v,) = json.loads(run("model", "list", "--json").output)
    assert v["members"] == 5 and v["source"] == "released" and v["current_for"] == ["(lab)"]
    # the same ensemble imported from disk is the same content-addressed version
    r = run("model", "import-drxnet", upstream / "pretrained")
    assert "already registered" in r.output
    assert len(json.loads(run("model", "list", "--json").output)) == 1


def test_pull_with_a_corrupted_file_registers_nothing(
    run, upstream: Path, serve, tmp_path: Path, db_url: str
) -> None:
    bad = tmp_path / "pretrained"
    shutil.copytree(upstream / "pretrained", bad)
    (bad / "model_3").chmod(0o644)
    data = bytearray((bad / "model_3").read_bytes())
    data[1000] ^= 0xFF
    (bad / "model_3").write_bytes(bytes(data))
    before = store_digest(db_url)
    r = run("model", "pull", "--base-url", serve(bad))
    assert r.exit_code != 0 and "model_3" in r.output and "does not match" in r.output
    assert store_digest(db_url) == before


def test_pull_offline_is_a_clear_error(run, db_url: str) -> None:
    before = store_digest(db_url)
    r = run("model", "pull", "--base-url", "http://127.0.0.1:9")
    assert r.exit_code != 0 and "cannot download" in r.output
    assert store_digest(db_url) == before


def test_mismatched_checkpoint_names_keys(run, upstream: Path, tmp_path: Path, db_url: str) -> None:
    import torch

    bad = tmp_path / "pretrained"
    shutil.copytree(upstream / "pretrained", bad)
    sd = torch.load(bad / "model_2", weights_only=True)
    sd.pop("fc.fc.bias")
    sd["extra.weight"] = torch.zeros(2)
    (bad / "model_2").chmod(0o644)
    torch.save(sd, bad / "model_2")
    before = store_digest(db_url)
    r = run("model", "import-drxnet", bad)
    assert r.exit_code != 0 and "fc.fc.bias" in r.output and "extra.weight" in r.output
    assert store_digest(db_url) == before


def test_predict_needs_a_model(run) -> None:
    r = run("predict", "Li1.2Mn0.4Ti0.4O2")
    assert r.exit_code != 0 and "drxlab train" in r.output and "drxlab model pull" in r.output


def test_predict_released_lmto_and_he1(run, upstream: Path, tmp_path: Path) -> None:
    run("model", "import-drxnet", upstream / "pretrained")
    rows = json.loads(
        run("predict", "Li1.2 Mn0.4 Ti0.4 O2", "Li1.2Mn0.1Mg0.1Cr0.3Ti0.2Nb0.1O1.8F0.2", "--json").output
    )
    ref = json.loads((upstream / "reference_LMTO.json").read_text())
    assert rows[0]["capacity_mAh_g"] == pytest.approx(ref["Q_avg"][0], abs=0.05)
    assert rows[0]["sigma_mAh_g"] == pytest.approx(ref["Q_std"][0], abs=0.05)
    assert rows[1]["capacity_mAh_g"] == pytest.approx(276, abs=3)
    png = tmp_path / "he1.png"
    assert run("predict", "Li1.2Mn0.1Mg0.1Cr0.3Ti0.2Nb0.1O1.8F0.2", "--plot", png).exit_code == 0
    assert png.stat().st_size > 5000


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["Li1.2Qx0.8O2"], "unknown element"),
        (["Li2O"], "no cations besides Li"),
        (["Li1.2Mn0.4Ti0.4O2", "--rate", "0"], "rate"),
        (["Li1.2Mn0.4Ti0.4O2", "--window", "4.0", "2.0"], "v_low"),
        (["Li1.2Mn0.4Ti0.4O2", "--cycle", "0"], "cycle"),
        (["Li1.2Mn0.4Ti0.4O2", "--model", "77"], "not found"),
    ],
)
def test_predict_bad_input(run, upstream: Path, args: list[str], fragment: str) -> None:
    run("model", "import-drxnet", upstream / "pretrained")
    r = run("predict", *args)
    assert r.exit_code != 0
    assert without_store_line(r.output).startswith("Error:") and fragment.lower() in r.output.lower()

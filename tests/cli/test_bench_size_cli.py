"""bench suggest says when a campaign's space cannot be widened to --size (the figures are then
for fewer candidates than asked)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from click.testing import CliRunner

from drxlab.cli.main import cli
from drxlab.model.drxnet import DRXNet
from drxlab.model.ensemble import Ensemble
from drxlab.store.db import open_store
from drxlab.workflow import models
from drxlab.workflow.training import TINY_MODEL
from tests.factories import campaign_toml


def test_a_space_below_size_is_named(tmp_path: Path) -> None:
    spec = tmp_path / "two.toml"
    spec.write_text(campaign_toml("two", {"Mn3+": 0.4, "Ti4+": 0.4, "Nb5+": 0.2, "Cr3+": 0.2}, metals=(2, 3)))
    db = tmp_path / "lab.sqlite"
    torch.manual_seed(0)
    with open_store(db).transaction() as s:
        models.register(s, Ensemble([DRXNet(**TINY_MODEL)]), source="trained")
    args = ["--db", db, "bench", "suggest", "--campaign", spec, "--size", 10**6, "--json"]
    res = CliRunner().invoke(cli, [*map(str, args)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)["candidates"]
    assert got < 10**6
    assert f"widens to {got} candidates, fewer than --size 1000000" in res.stderr

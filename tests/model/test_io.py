"""Released checkpoints and drxlab's own ensemble format."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from drxlab.exceptions import ModelError
from drxlab.model import io
from drxlab.model.drxnet import DRXNet
from drxlab.model.ensemble import Ensemble


def test_released_members_load_strict(released: Ensemble) -> None:
    assert len(released) == 5
    assert all(isinstance(m, DRXNet) and not m.training for m in released.members)
    assert io.RELEASED_KEY_RENAMING == {}


def test_save_load_roundtrip(tiny_ensemble: Ensemble, tmp_path: Path) -> None:
    path = io.save_ensemble(tiny_ensemble, tmp_path / "sub" / "ens.pt")
    back = io.load_ensemble(path)
    assert back.model_args == tiny_ensemble.model_args and len(back) == 2
    for a, b in zip(tiny_ensemble.members, back.members):
        for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
            assert ka == kb and torch.equal(va, vb)
    assert path.read_bytes() == io.ensemble_bytes(tiny_ensemble)
    p1 = tiny_ensemble.predict_capacity(["Li1.2Mn0.4Ti0.4O2"], 20, 1.5, 4.8, 1)
    assert (back.predict_capacity(["Li1.2Mn0.4Ti0.4O2"], 20, 1.5, 4.8, 1) == p1).all()


def test_bytes_and_hash_are_canonical(tiny_ensemble: Ensemble) -> None:
    blob = io.ensemble_bytes(tiny_ensemble)
    again = io.ensemble_from_bytes(blob)
    assert io.ensemble_bytes(again) == blob
    assert io.ensemble_hash(again) == io.ensemble_hash(tiny_ensemble)
    assert len(io.ensemble_hash(tiny_ensemble)) == 64
    with torch.no_grad():
        again.members[0].delta_N.weight.add_(1.0)
    assert io.ensemble_hash(again) != io.ensemble_hash(tiny_ensemble)


def test_wrong_format_version(tiny_ensemble: Ensemble, tmp_path: Path) -> None:
    payload = io.ensemble_to_dict(tiny_ensemble)
    payload["format_version"] = 99
    torch.save(payload, tmp_path / "v99.pt")
    with pytest.raises(ModelError, match=r"format_version=99.*reads version 1"):
        io.load_ensemble(tmp_path / "v99.pt")
    torch.save({"hello": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ModelError, match="not a drxlab ensemble file"):
        io.load_ensemble(tmp_path / "other.pt")


def test_corrupt_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "model_0"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ModelError, match=rf"cannot read model file {bad}"):
        io.load_released_member(bad)
    with pytest.raises(ModelError, match="does not exist"):
        io.load_released_member(tmp_path / "nope")
    with pytest.raises(ModelError, match="does not exist"):
        io.load_released_ensemble(tmp_path / "nodir")
    with pytest.raises(ModelError, match="cannot read"):
        io.ensemble_from_bytes(b"\x00garbage")


def test_missing_and_extra_keys_are_named(tmp_path: Path) -> None:
    state = DRXNet().state_dict()
    del state["delta_N.weight"]
    state["extra.thing"] = torch.zeros(3)
    torch.save(state, tmp_path / "model_0")
    pattern = r"model_0.*missing keys \['delta_N.weight'\].*unexpected keys \['extra.thing'\]"
    with pytest.raises(ModelError, match=pattern):
        io.load_released_member(tmp_path / "model_0")


def test_wrong_shapes_are_named(tmp_path: Path) -> None:
    state = DRXNet(elem_gate=32).state_dict()
    torch.save(state, tmp_path / "model_0")
    with pytest.raises(ModelError, match=r"wrong shapes.*graphs.0.pooling.0.gate_nn.fcs.0.weight \(32, 64\)"):
        io.load_released_member(tmp_path / "model_0")

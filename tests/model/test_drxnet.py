"""The DRXNet module: configuration, parameter names, branches and dQ/dV."""

from __future__ import annotations

from pathlib import Path

import torch

from drxlab.chem.graph import build_graph
from drxlab.model.drxnet import DRXNet, batchnorm_layers
from tests.model.conftest import TINY_ARGS

# the released checkpoints' configuration (DRXNET.md)
RELEASED_ARGS = {
    "elem_emb_len": 200,
    "elem_fea_len": 32,
    "vol_fea_len": 64,
    "rate_fea_len": 16,
    "cycle_fea_len": 16,
    "n_graph": 3,
    "elem_heads": 3,
    "elem_gate": 64,
    "elem_msg": 64,
    "cry_heads": 3,
    "cry_gate": 64,
    "cry_msg": 64,
}

LMTO = {"Li": 1.2, "Mn": 0.4, "Ti": 0.4, "O": 2.0}


def _inputs(k: int = 2, p: int = 5) -> dict:
    return {
        "comp_idx": torch.zeros(k, dtype=torch.long),
        "rate": torch.tensor([20.0, 1000.0])[:k],
        "cycle": torch.tensor([1.0, 10.0])[:k],
        "window": torch.tensor([[1.5, 4.8]]).expand(k, 2),
        "voltage": torch.linspace(1.6, 4.6, p).expand(k, p).clone(),
    }


def test_records_keyword_config() -> None:
    assert DRXNet().model_args == RELEASED_ARGS
    model = DRXNet(**TINY_ARGS)
    assert model.model_args == {**RELEASED_ARGS, **TINY_ARGS}
    assert DRXNet(**model.model_args).state_dict().keys() == model.state_dict().keys()


def test_parameter_names_are_the_released_ones(upstream: Path) -> None:
    lines = (upstream / "drxnet_state_dict_keys.txt").read_text().splitlines()
    released = {ln.split(" ")[0]: ln.split(" ", 1)[1] for ln in lines if ln and not ln.startswith("#")}
    ours = {k: str(tuple(v.shape)).replace(",)", ",)") for k, v in DRXNet().state_dict().items()}
    assert set(ours) == set(released)
    for key, shape in released.items():
        assert ours[key] == shape, key
    assert len(batchnorm_layers(DRXNet())) == 6


def test_first_cycle_branch_equals_cycle_n_at_cycle_1() -> None:
    torch.manual_seed(0)
    model = DRXNet().eval()
    with torch.no_grad():
        out = model(build_graph([LMTO]), first_cycle=True, **_inputs())
    assert out.q.shape == out.q1.shape == (2, 5)
    assert torch.allclose(out.q[0], out.q1[0])  # cycle 1: delta_N(0) = 0
    assert not torch.allclose(out.q[1], out.q1[1])


def test_dqdv_is_the_derivative_of_q() -> None:
    torch.manual_seed(0)
    model = DRXNet().eval().double()
    g = build_graph([LMTO], dtype=torch.float64)
    args = {k: (v.double() if v.is_floating_point() else v) for k, v in _inputs().items()}
    v = args.pop("voltage").requires_grad_(True)
    q = model(g, voltage=v, **args).q
    (dq,) = torch.autograd.grad(q.sum(), v)
    h = 1e-6
    fd = (model(g, voltage=v.detach() + h, **args).q - model(g, voltage=v.detach() - h, **args).q) / (2 * h)
    assert torch.allclose(dq, fd, rtol=1e-5, atol=1e-6)


def test_shared_voltage_grid_broadcasts() -> None:
    torch.manual_seed(0)
    model = DRXNet().eval()
    args = _inputs()
    with torch.no_grad():
        full = model(build_graph([LMTO]), **args).q
        args["window"], args["voltage"] = args["window"][:1], args["voltage"][:1]
        shared = model(build_graph([LMTO]), **args).q
    assert torch.allclose(full, shared)

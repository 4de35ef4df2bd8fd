"""Load the released DRXNet checkpoints; save and load drxlab's own ensemble format.

Released checkpoints (``model_0`` … ``model_4``, the authors' public repository) are bare
PyTorch state dicts. :class:`~drxlab.model.drxnet.DRXNet` uses the same parameter names, so
they load with ``strict=True`` and *no* key renaming: :data:`RELEASED_KEY_RENAMING` is the one
documented place a renaming would go, and it is empty.

drxlab's own format is one ``torch.save`` file (always read with ``weights_only=True``) of::

    {"format": "drxlab-ensemble", "format_version": 1, "class": "DRXNet",
     "module": "drxlab.model.drxnet", "model_args": {...}, "members": [state_dict, ...]}

The same bytes (:func:`ensemble_bytes`) are what the model registry stores, with their sha256
(:func:`ensemble_hash`); serialisation is deterministic for a given torch version.

Example::

        ens = load_released_ensemble(UPSTREAM / "pretrained")
        ens2 = ensemble_from_bytes(ensemble_bytes(ens))
        ensemble_hash(ens) == ensemble_hash(ens2)
        # -> True
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from drxlab.exceptions import ModelError
from drxlab.model.drxnet import DRXNet
from drxlab.model.ensemble import Ensemble

FORMAT = "drxlab-ensemble"
FORMAT_VERSION = 1
RELEASED_MEMBERS = tuple(f"model_{k}" for k in range(5))
# released key -> drxlab key; empty: the released names are DRXNet's own parameter names.
RELEASED_KEY_RENAMING: dict[str, str] = {}

PathLike = str | os.PathLike[str]


def _read(source: PathLike | bytes, label: str) -> Any:
    """``torch.load`` (weights only, CPU) from a path or bytes; :class:`ModelError` if unreadable."""
    try:
        fh = io.BytesIO(source) if isinstance(source, bytes) else source
        return torch.load(fh, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"model file {label} does not exist") from None
    except Exception as exc:  # corrupt zip, pickle errors, disallowed globals, ...
        raise ModelError(f"cannot read model file {label}: {type(exc).__name__}: {exc}") from None


def member_from_state_dict(
    state: Mapping[str, Any], *, model_args: Mapping[str, Any] | None = None, label: str = "<state dict>"
) -> DRXNet:
    """Build a :class:`DRXNet` (eval mode) from ``state``; :class:`ModelError` names bad keys.

    ``label`` (a file name) is used in error messages.
    """
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{label} is not a DRXNet state dict (a mapping of parameter names to tensors)")
    state = {RELEASED_KEY_RENAMING.get(k, k): v for k, v in state.items()}
    try:
        model = DRXNet(**dict(model_args or {}))
    except TypeError as exc:
        raise ModelError(f"{label}: invalid model_args {dict(model_args or {})!r}: {exc}") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ModelError(
            f"{label} does not match DRXNet{_args_note(model_args)}: missing keys {missing}, "
            f"unexpected keys {unexpected}"
        )
    bad = [
        f"{k} {tuple(v.shape)} (expected {tuple(expected[k].shape)})"
        for k, v in state.items()
        if v.shape != expected[k].shape
    ]
    if bad:
        raise ModelError(f"{label} does not match DRXNet{_args_note(model_args)}: wrong shapes {bad}")
    model.load_state_dict(state, strict=True)
    return model.eval()


def _args_note(model_args: Mapping[str, Any] | None) -> str:
    return f" with model_args {dict(model_args)!r}" if model_args else " (released configuration)"


def load_released_member(path: PathLike) -> DRXNet:
    """Load one released checkpoint (a bare state dict) as a :class:`DRXNet` in eval mode."""
    return member_from_state_dict(_read(path, str(path)), label=str(path))


def load_released_ensemble(directory: PathLike) -> Ensemble:
    """Load ``model_0`` … ``model_4`` from ``directory`` as an :class:`Ensemble`."""
    root = Path(directory)
    if not root.is_dir():
        raise ModelError(f"released-model folder {root} does not exist; expected model_0 … model_4 in it")
    return Ensemble([load_released_member(root / name) for name in RELEASED_MEMBERS])


def ensemble_to_dict(ensemble: Ensemble) -> dict[str, Any]:
    """The saved form of ``ensemble``: format, version, class, model_args and member state dicts."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": type(ensemble.members[0]).__name__,
        "module": type(ensemble.members[0]).__module__,
        "model_args": dict(ensemble.model_args),
        "members": [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in ensemble.members],
    }


def ensemble_from_dict(payload: Any, *, label: str = "<ensemble>") -> Ensemble:
    """Rebuild an :class:`Ensemble` from :func:`ensemble_to_dict` output, checking the format."""
    if not isinstance(payload, Mapping) or payload.get("format") != FORMAT:
        raise ModelError(f"{label} is not a drxlab ensemble file (expected format {FORMAT!r})")
    version = payload.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelError(
            f"{label} has ensemble format_version={version!r}; this drxlab reads version {FORMAT_VERSION}"
        )
    if payload.get("class") != DRXNet.__name__:
        raise ModelError(f"{label} holds class {payload.get('class')!r}; expected {DRXNet.__name__!r}")
    members = payload.get("members")
    if not isinstance(members, list) or not members:
        raise ModelError(f"{label} holds no ensemble members")
    args = payload.get("model_args") or {}
    return Ensemble(
        [
            member_from_state_dict(sd, model_args=args, label=f"{label} member {k}")
            for k, sd in enumerate(members)
        ]
    )


def ensemble_bytes(ensemble: Ensemble) -> bytes:
    """Canonical serialised bytes of ``ensemble`` (deterministic for a given torch version)."""
    buf = io.BytesIO()
    torch.save(ensemble_to_dict(ensemble), buf)
    return buf.getvalue()


def ensemble_from_bytes(blob: bytes, *, label: str = "<ensemble bytes>") -> Ensemble:
    """Inverse of :func:`ensemble_bytes`."""
    return ensemble_from_dict(_read(bytes(blob), label), label=label)


def ensemble_hash(ensemble: Ensemble) -> str:
    """sha256 (hex) of :func:`ensemble_bytes`."""
    return hashlib.sha256(ensemble_bytes(ensemble)).hexdigest()


def save_ensemble(ensemble: Ensemble, path: PathLike) -> Path:
    """Write ``ensemble`` to ``path`` (the exact bytes of :func:`ensemble_bytes`); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(ensemble_bytes(ensemble))
    tmp.replace(path)
    return path


def load_ensemble(path: PathLike) -> Ensemble:
    """Read an ensemble written by :func:`save_ensemble`."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"ensemble file {path} does not exist")
    return ensemble_from_bytes(path.read_bytes(), label=str(path))

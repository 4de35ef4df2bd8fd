"""A model version's recorded metrics as values: capacity errors by data split, and other notes.

The store keeps metrics as JSON (their shape has grown over versions, and older rows hold only
scalars such as ``val_mae_mAh_g``); :meth:`ModelMetrics.from_dict` reads any of them, and
:meth:`ModelMetrics.as_dict` gives back what was recorded, for ``--json``.

Example:
    >>> m = ModelMetrics.from_dict({"validation": {"n": 12, "mae": 18.25, "sigma": 6.1}})
    >>> m.error("validation").mae
    18.25
    >>> m.text()
    'held-out compositions: MAE 18.2 mAh/g, mean σ_Q 6.1 mAh/g (12 profiles)'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from drxlab.formatting import fmt_number, no_nan

SPLIT_NAMES = {
    "train": "training data",
    "validation": "held-out compositions",
    "validation_current": "current version, held-out compositions",
    "new_before": "new profiles, before",
    "new_after": "new profiles, after",
    "heldout_old_before": "held-out old data, before",
    "heldout_old_after": "held-out old data, after",
}


@dataclass(frozen=True)
class CapacityError:
    """An ensemble's cycle-capacity error on one set of profiles."""

    n: int  # profiles
    mae: float | None  # mAh/g, ensemble mean against measured; None when n = 0
    sigma: float | None  # mean σ_Q over the profiles, mAh/g
    version: int | None = None  # the model version scored, when not the one the metrics belong to

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CapacityError:
        d = no_nan(dict(d))
        return cls(int(d.get("n") or 0), d.get("mae"), d.get("sigma"), d.get("version"))

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": self.n, "mae": self.mae, "sigma": self.sigma}
        if self.version is not None:
            out["version"] = self.version
        return out

    def text(self) -> str:
        """``'MAE 18.2 mAh/g, mean σ_Q 6.1 mAh/g (12 profiles)'``, or ``'no profiles'``."""
        if not self.n:
            return "no profiles"
        out = f"MAE {fmt_number(self.mae, ' mAh/g')}"
        if self.sigma is not None:
            out += f", mean σ_Q {fmt_number(self.sigma, ' mAh/g')}"
        return f"{out} ({self.n} profiles)"


def _is_error(value: Any) -> bool:
    return isinstance(value, Mapping) and "mae" in value


@dataclass(frozen=True)
class ModelMetrics:
    """Recorded metrics in their recorded order: :class:`CapacityError` per split, other values as
    recorded (e.g. ``replay``: which data anchored a fine-tune)."""

    items: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> ModelMetrics:
        return cls(
            tuple(
                (k, CapacityError.from_dict(v) if _is_error(v) else no_nan(v)) for k, v in (d or {}).items()
            )
        )

    def as_dict(self) -> dict[str, Any]:
        return {k: v.as_dict() if isinstance(v, CapacityError) else v for k, v in self.items}

    def error(self, split: str) -> CapacityError | None:
        """The capacity error on ``split`` (``train``, ``validation``, ``new_after``, …), if recorded."""
        value = dict(self.items).get(split)
        return value if isinstance(value, CapacityError) else None

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.items).get(key, default)

    def __bool__(self) -> bool:
        return bool(self.items)

    def worse_than_current(self) -> bool:
        """A trained ensemble's validation MAE above the current version's on the same held-out
        compositions (``validation_current``)."""
        new, old = self.error("validation"), self.error("validation_current")
        return bool(new and old and new.mae is not None and old.mae is not None and new.mae > old.mae)

    def text(self) -> str | None:
        """The metrics as a chemist reads them (no raw dicts, long floats or NaN); None if empty."""
        parts = []
        for key, value in self.items:
            name = SPLIT_NAMES.get(
                key,
                key.removesuffix("_mAh_g")
                .replace("_", " ")
                .replace("mae", "MAE")
                .replace("val ", "validation "),
            )
            if isinstance(value, CapacityError):
                if value.version is not None:
                    name = f"version {value.version}, held-out compositions"
                parts.append(f"{name}: {value.text()}")
            elif isinstance(value, Mapping):
                parts.append(
                    f"{name}: "
                    + ", ".join(f"{k.replace('_', ' ')} {fmt_number(v)}" for k, v in value.items())
                )
            else:
                parts.append(f"{name} {fmt_number(value, ' mAh/g' if key.endswith('_mAh_g') else '')}")
        return "; ".join(parts) or None


@dataclass(frozen=True)
class VersionSummary:
    """One model version as ``status`` and ``model list`` show it."""

    id: int
    sha256: str
    source: str  # released | trained | finetuned
    parent: int | None
    members: int
    created: str  # ISO 8601, UTC
    metrics: ModelMetrics

    @classmethod
    def of(cls, version: Any) -> VersionSummary:
        """From a :class:`~drxlab.store.tables.ModelVersion` row."""
        import json

        return cls(
            version.id,
            version.sha256,
            version.source,
            version.parent_id,
            version.n_members,
            version.created_at.isoformat(),
            ModelMetrics.from_dict(json.loads(version.metrics_json)),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sha256": self.sha256,
            "source": self.source,
            "parent": self.parent,
            "members": self.members,
            "created": self.created,
            "metrics": self.metrics.as_dict(),
        }

"""SQLModel tables of the experiment store.

Arrays (standardised V / Q / dQdV, raw points) are stored compactly as little-endian float64
bytes (:func:`pack` / :func:`unpack`), one row per profile, never one row per point. Model
weights live in the database as a blob next to their sha256, so a campaign can be restored
from the database file alone.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from drxlab.vocabulary import SampleStatus

SCHEMA_VERSION = 3  # 1: first release; 2: audit log; 3: failure reasons (migrations in store/migrations)


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


def pack(array: np.ndarray | None) -> bytes | None:
    """Array → little-endian float64 bytes (None stays None)."""
    return None if array is None else np.ascontiguousarray(array, dtype="<f8").tobytes()


def unpack(blob: bytes | None) -> np.ndarray | None:
    """Bytes written by :func:`pack` → float64 array."""
    return None if blob is None else np.frombuffer(blob, dtype="<f8").copy()


def dumps(obj: Any) -> str:
    """Canonical JSON text (sorted keys) for JSON columns."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


class Meta(SQLModel, table=True):
    """Key/value facts about the store itself (schema version)."""

    key: str = Field(primary_key=True)
    value: str


class Campaign(SQLModel, table=True):
    """A campaign spec revision: a changed file under the same name is a new revision."""

    __table_args__ = (UniqueConstraint("name", "revision"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    revision: int = 1
    spec_text: str = ""
    spec_hash: str = Field(default="", index=True)
    created_at: datetime = Field(default_factory=utcnow)


class Material(SQLModel, table=True):
    """A target composition in the normalised rocksalt formula (cations sum to 2)."""

    id: int | None = Field(default=None, primary_key=True)
    formula: str = Field(unique=True, index=True)
    amounts_json: str  # element -> amount per formula unit
    oxidation_json: str = "{}"  # element -> assigned (average) oxidation state
    n_metals: int  # metal elements besides Li
    klass: str = Field(index=True)  # 2TM | 3TM | HE

    @property
    def amounts(self) -> dict[str, float]:
        return json.loads(self.amounts_json)


class Sample(SQLModel, table=True):
    """One synthesis of a material: proposed → synthesized → tested | failed."""

    id: int | None = Field(default=None, primary_key=True)
    material_id: int = Field(foreign_key="material.id", index=True)
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id", index=True)
    status: str = Field(default=SampleStatus.TESTED, index=True)
    round: int | None = None
    notes: str = ""
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    failure_reason: str | None = None  # a FailureReason when failed (schema version 3)
    failure_detail: str | None = None  # the chemist's own words beside it


class SourceFile(SQLModel, table=True):
    """A data file that was imported (by content hash): re-importing it is a no-op."""

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(unique=True, index=True)
    name: str
    format: str
    imported_at: datetime = Field(default_factory=utcnow)


class ElectrochemTest(SQLModel, table=True):
    """A galvanostatic test of a sample at one rate (mA/g) in one window (V)."""

    id: int | None = Field(default=None, primary_key=True)
    sample_id: int = Field(foreign_key="sample.id", index=True)
    rate: float  # mA/g
    v_low: float  # V
    v_high: float  # V
    active_mass: float | None = None  # g
    electrode_mass: float | None = None  # g
    source_file: str = ""
    source_sha256: str = Field(default="", index=True)
    instrument: str = ""
    virtual: bool = False  # measured by the virtual lab
    created_at: datetime = Field(default_factory=utcnow)


class Profile(SQLModel, table=True):
    """One standardised discharge profile (100 points uniform in V) of a test's cycle."""

    __table_args__ = (UniqueConstraint("test_id", "cycle"),)
    id: int | None = Field(default=None, primary_key=True)
    test_id: int = Field(foreign_key="electrochemtest.id", index=True)
    cycle: int
    voltage: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # V
    capacity_curve: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # mAh/g
    dqdv: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # mAh/g/V
    capacity: float  # mAh/g, Q at V_low
    average_voltage: float  # V
    energy: float  # mWh/g
    raw_voltage: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    raw_capacity: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class ModelVersion(SQLModel, table=True):
    """An immutable, content-hashed DRXNet ensemble version with its lineage and metrics."""

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(unique=True, index=True)
    source: str  # released | trained | finetuned
    parent_id: int | None = Field(default=None, foreign_key="modelversion.id")
    n_members: int
    config_json: str = "{}"
    training_json: str = "{}"  # training data ids and settings
    metrics_json: str = "{}"
    created_at: datetime = Field(default_factory=utcnow)
    weights: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class CurrentModel(SQLModel, table=True):
    """Which model version is current, per campaign name ('' = the lab-wide default)."""

    scope: str = Field(primary_key=True)
    version_id: int = Field(foreign_key="modelversion.id")


class Suggestion(SQLModel, table=True):
    """A composition suggested for synthesis, with what the model predicted at the time."""

    id: int | None = Field(default=None, primary_key=True)
    sample_id: int = Field(foreign_key="sample.id", unique=True, index=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    model_version_id: int = Field(foreign_key="modelversion.id")
    acquisition: str
    params_json: str = "{}"
    seed: int = 0
    rank: int
    predicted: float  # primary objective mean (mAh/g for capacity)
    predicted_std: float  # σ across members
    acq_value: float
    objectives_json: str = "{}"  # objective -> [mean, std]
    nearest_formula: str = ""
    nearest_distance: float = 0.0
    domain: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class AuditLog(SQLModel, table=True):
    """One committed write to the store: which command made it, with what arguments, by whom.

    Added in schema version 2. ``changes_json`` maps table name → ``[inserted, updated, deleted]``
    row counts of the transaction.
    """

    id: int | None = Field(default=None, primary_key=True)
    command: str = Field(default="", index=True)  # e.g. "drxlab import"; "" for library calls
    args_json: str = "{}"  # the command's options and arguments
    changes_json: str = "{}"
    user: str = ""
    host: str = ""
    drxlab_version: str = ""
    created_at: datetime = Field(default_factory=utcnow, index=True)

"""The model registry: register, verify, load and select DRXNet ensemble versions.

Every version is immutable and content-addressed: its weights (drxlab's ensemble bytes) live in
the database as a blob with their sha256, so a campaign can be restored from the database file
alone. A blob whose hash does not match is refused, never used for a prediction.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlmodel import Session

from drxlab.exceptions import ModelError
from drxlab.formatting import no_nan
from drxlab.store import queries
from drxlab.store.tables import ModelVersion
from drxlab.workflow.downloads import RELEASED_REPO_URL, download_verified

if TYPE_CHECKING:  # torch is imported only where weights are read or written (status, model list stay light)
    from drxlab.model.ensemble import Ensemble

RELEASED_BASE_URL = f"{RELEASED_REPO_URL}/drxnet/pretrained"
# sha256 of the authors' released checkpoints (their repository's README / commit above)
RELEASED_SHA256 = {
    "model_0": "9e3950bdb6edadb62b612708b3a85f3a47ad8395db2bba5e519a7619580d44ab",
    "model_1": "7e59759e6e896d4ff314393f2efdc6502c9eae7055dcfba934a178bc40614b06",
    "model_2": "705f16e37f681917986053762c4929cc00535d7e28adb787ee515c4cd9a1ceed",
    "model_3": "bd447f6e15b6ce9ce55e25f2444429cafb739a5fca758a525f08e4cbd9197099",
    "model_4": "47a3612296cb2cdbbe390d17d311eb224049173829ea66685c5e2e99e8d30ea9",
}
NO_MODEL = (
    "no model yet: run `drxlab train` (on your data) or `drxlab model pull` (the released DRXNet ensemble)"
)


def register(
    session: Session,
    ensemble: Ensemble,
    *,
    source: str,
    parent_id: int | None = None,
    training: dict | None = None,
    metrics: dict | None = None,
    scope: str | None = "",
) -> tuple[ModelVersion, bool]:
    """Store an ensemble as a new version (or find the identical one); make it current for ``scope``.

    Returns ``(version, created)``. ``scope=None`` leaves the current version unchanged.
    """
    from drxlab.model.io import ensemble_bytes

    blob = ensemble_bytes(ensemble)
    sha = hashlib.sha256(blob).hexdigest()
    row = queries.model_by_hash(session, sha)
    created = row is None
    if created:
        row = queries.add_model_version(
            session,
            sha256=sha,
            weights=blob,
            source=source,
            n_members=len(ensemble),
            config=dict(ensemble.model_args),
            training=training or {},
            metrics=metrics or {},
            parent_id=parent_id,
        )
    if scope is not None:
        queries.set_current_model(session, row.id, scope)
    return row, created


def load(version: ModelVersion) -> Ensemble:
    """The ensemble of a version, after checking its weights against the recorded sha256."""
    if hashlib.sha256(version.weights).hexdigest() != version.sha256:
        raise ModelError(
            f"model version {version.id} ({version.sha256[:12]}) is corrupt: its weights do not match "
            "their recorded sha256; restore the database from a backup or select another version"
        )
    from drxlab.model.io import ensemble_from_bytes

    return ensemble_from_bytes(version.weights, label=f"model version {version.id}")


def current(session: Session, scope: str = "") -> tuple[ModelVersion, Ensemble]:
    """The current version (of a campaign, else lab-wide) and its ensemble, or a clear error."""
    return resolve(session, None, scope)


def version_row(session: Session, ref: str | int | None, scope: str = "") -> ModelVersion:
    """A version by id / hash prefix, or the current one when ``ref`` is None (weights not loaded)."""
    row = queries.current_model(session, scope) if ref is None else queries.model_version(session, ref)
    if row is None:
        raise ModelError(
            NO_MODEL if ref is None else f"model version {ref!r} not found; see `drxlab model list`"
        )
    return row


def resolve(session: Session, ref: str | int | None, scope: str = "") -> tuple[ModelVersion, Ensemble]:
    """A version by id / hash prefix, or the current one when ``ref`` is None, and its ensemble."""
    row = version_row(session, ref, scope)
    return row, load(row)


def lineage(session: Session, version: ModelVersion) -> list[ModelVersion]:
    """The version and its ancestors, newest first."""
    out = [version]
    while out[-1].parent_id is not None:
        out.append(session.get(ModelVersion, out[-1].parent_id))
    return out


def metrics_of(version: ModelVersion) -> dict:
    """A version's recorded metrics, with NaN (an empty split in versions before 0.3) as None."""
    return no_nan(json.loads(version.metrics_json))


def describe(version: ModelVersion) -> dict:
    """A JSON-friendly summary of a version."""
    return {
        "id": version.id,
        "sha256": version.sha256,
        "source": version.source,
        "parent": version.parent_id,
        "members": version.n_members,
        "created": version.created_at.isoformat(),
        "metrics": metrics_of(version),
        "training": json.loads(version.training_json),
    }


def download_released(
    dest: Path,
    base_url: str = RELEASED_BASE_URL,
    *,
    timeout: float = 60.0,
    on_file: Callable[[str], None] | None = None,
) -> Path:
    """Download model_0..4 into ``dest`` and verify each sha256; raise before anything is kept."""
    from drxlab.model.io import RELEASED_MEMBERS

    dest.mkdir(parents=True, exist_ok=True)
    for name in RELEASED_MEMBERS:
        data = download_verified(
            f"{base_url.rstrip('/')}/{name}",
            RELEASED_SHA256[name],
            what=name,
            error=ModelError,
            offline_hint="or import a local copy with `drxlab model import-drxnet DIR`",
            nothing="nothing registered",
            timeout=timeout,
        )
        (dest / name).write_bytes(data)
        if on_file:
            on_file(name)
    return dest


def pull_released(
    session: Session,
    base_url: str = RELEASED_BASE_URL,
    scope: str = "",
    on_file: Callable[[str], None] | None = None,
) -> tuple[ModelVersion, bool]:
    """Download, verify and register the released DRXNet ensemble."""
    from drxlab.model.io import load_released_ensemble

    with tempfile.TemporaryDirectory(prefix="drxnet-") as tmp:
        download_released(Path(tmp), base_url, on_file=on_file)
        ensemble = load_released_ensemble(tmp)
    return register(session, ensemble, source="released", training={"origin": base_url}, scope=scope)


def import_released(session: Session, directory: Path, scope: str = "") -> tuple[ModelVersion, bool]:
    """Register the released checkpoints from a local folder (model_0 … model_4)."""
    from drxlab.model.io import load_released_ensemble

    ensemble = load_released_ensemble(directory)
    return register(session, ensemble, source="released", training={"origin": str(directory)}, scope=scope)


@dataclass(frozen=True)
class Applicability:
    """Whether a composition lies in a model's applicability domain (see drxlab.acquisition.domain)."""

    domain: str
    foreign: tuple[str, ...] = ()  # elements outside the model's data
    nearest: str | None = None  # nearest composition with data in the store
    distance: float | None = None  # its L1 distance (element amounts per formula unit)

    def as_dict(self) -> dict:
        return {
            "domain": self.domain,
            "foreign_elements": list(self.foreign),
            "nearest_known": self.nearest,
            "distance_L1": self.distance,
        }


def applicability(session: Session, version: ModelVersion, formulas: list[str]) -> list[Applicability]:
    """Domain flags for predictions of ``version``: elements outside the DRX data (or the store's
    tested compositions) make a composition out-of-domain; for a model trained on the store's own
    data, a composition far from every tested one extrapolates."""
    import numpy as np

    from drxlab.acquisition import domain
    from drxlab.chem import compositions

    tested = queries.tested_formulas(session)
    known_amounts = [compositions.amounts(f) for f in tested]
    known_elements = set(domain.DRX_ELEMENTS).union(*[a.keys() for a in known_amounts])
    own_data = any(v.source == "trained" for v in lineage(session, version))
    out = []
    for f in formulas:
        amts = compositions.amounts(f)
        foreign = domain.foreign_elements(amts, known_elements)
        nearest = distance = None
        if known_amounts:
            els = sorted(set(amts).union(*[a.keys() for a in known_amounts]))
            row = np.array([[amts.get(e, 0.0) for e in els]])
            idx, dist = domain.nearest_known(
                row, np.array([[a.get(e, 0.0) for e in els] for a in known_amounts])
            )
            nearest, distance = tested[int(idx[0])], float(dist[0])
        if foreign:
            flag = domain.OUT_OF_DOMAIN
        elif own_data and distance is not None and distance > domain.DISTANCE_THRESHOLD:
            flag = domain.EXTRAPOLATING
        else:
            flag = domain.IN_DOMAIN
        out.append(Applicability(flag, tuple(foreign), nearest, distance))
    return out

"""Campaign registry: specs stored by name with revisions; resolving `--campaign NAME|FILE`."""
from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from drxlab.candidates.spec import CampaignSpec, load_spec, parse_spec
from drxlab.exceptions import CampaignError
from drxlab.store import queries
from drxlab.store.tables import Campaign


def add(session: Session, path: Path) -> tuple[Campaign, CampaignSpec, bool]:
    """Register a campaign file under its ``[campaign] name`` (a changed file → a new revision)."""
    spec = load_spec(path)
    row, created = queries.add_campaign_revision(session, spec.name, spec.text, spec.sha256)
    return row, spec, created


def resolve(session: Session, ref: str) -> tuple[Campaign, CampaignSpec]:
    """A campaign by file path (registered first) or by name (its latest revision)."""
    path = Path(ref)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise CampaignError(f"campaign file {path} does not exist")
        row, spec, _ = add(session, path)
        return row, spec
    return registered(session, ref)


def registered(session: Session, name: str, label: str | None = None) -> tuple[Campaign, CampaignSpec]:
    """The latest registered revision of a campaign name and its spec (read only)."""
    row = queries.campaign_latest(session, name)
    if row is None or not row.spec_text:
        known = sorted({c.name for c in queries.campaigns(session) if c.spec_text})
        raise CampaignError(f"campaign {label or name!r} not found; known campaigns: {', '.join(known) or 'none'} "
                            "(register one with `drxlab campaign add FILE`)")
    return row, parse_spec(row.spec_text, source=f"campaign {row.name} revision {row.revision}")


def ensure(session: Session, name: str) -> Campaign:
    """The latest revision of a campaign name, created (without a spec) for data that names it."""
    return queries.campaign_latest(session, name) or queries.add_campaign_revision(session, name, "", "")[0]


def find(session: Session, name: str) -> Campaign:
    """The latest revision of a campaign name, or a clear error."""
    row = queries.campaign_latest(session, name)
    if row is None:
        raise CampaignError(f"campaign {name!r} not found; see `drxlab campaign list`")
    return row

"""Campaign registry: specs stored by name with revisions; resolving `--campaign NAME|FILE`.

How ``--campaign REF`` is found, the same from any working folder:

1. ``REF`` is an existing file → that file (relative paths from the working folder);
2. else its name (``REF`` itself, or the file stem of ``campaigns/he-drx.toml``) is a campaign
   registered in the store → its latest revision;
3. else ``<name>.toml`` in the campaign folders shipped with drxlab (the repository's
   ``campaigns/``) → that file.
"""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from drxlab.candidates.spec import CampaignSpec, load_spec, parse_spec
from drxlab.exceptions import CampaignError
from drxlab.store import queries
from drxlab.store.tables import Campaign


def bundled_dirs() -> list[Path]:
    """Campaign folders shipped with drxlab: the repository's ``campaigns/`` beside the package."""
    root = Path(__file__).resolve().parents[2] / "campaigns"
    return [root] if root.is_dir() else []


def campaign_name(ref: str) -> str:
    """The campaign name a reference stands for: ``campaigns/he-drx.toml`` → ``he-drx``."""
    path = Path(ref)
    return path.stem if path.suffix == ".toml" or len(path.parts) > 1 else ref


def bundled_file(ref: str) -> Path | None:
    """The shipped campaign file of a reference's name, if any."""
    for folder in bundled_dirs():
        hit = folder / f"{campaign_name(ref)}.toml"
        if hit.is_file():
            return hit
    return None


def locate_file(ref: str) -> Path:
    """A campaign file for commands that need one (simulate, bench): an existing path, else the
    shipped file of that name; raises :class:`CampaignError` saying where it looked."""
    path = Path(ref).expanduser()
    if path.is_file():
        return path
    hit = bundled_file(ref)
    if hit is not None:
        return hit
    raise CampaignError(_not_found(ref, []))


def _not_found(ref: str, known: list[str]) -> str:
    where = ", ".join(str(d) for d in bundled_dirs()) or "no shipped campaign folder"
    reg = f"; registered campaigns: {', '.join(known)}" if known else ""
    return (
        f"campaign {ref!r} not found: no file {Path(ref).expanduser().absolute()}, no registered campaign "
        f"named {campaign_name(ref)!r}{reg}, no {campaign_name(ref)}.toml in {where} "
        "(register one with `drxlab campaign add FILE`)"
    )


def add(session: Session, path: Path) -> tuple[Campaign, CampaignSpec, bool]:
    """Register a campaign file under its ``[campaign] name`` (a changed file → a new revision)."""
    spec = load_spec(path)
    row, created = register(session, spec)
    return row, spec, created


def register(session: Session, spec: CampaignSpec) -> tuple[Campaign, bool]:
    """Record a spec under its name (a changed spec → a new revision); ``(row, created)``."""
    return queries.add_campaign_revision(session, spec.name, spec.text, spec.sha256)


def resolve(session: Session, ref: str) -> tuple[Campaign, CampaignSpec]:
    """A campaign by file path (registered first) or by name (its latest revision)."""
    path = Path(ref).expanduser()
    if path.is_file():
        row, spec, _ = add(session, path)
        return row, spec
    if path.is_dir():
        raise CampaignError(
            f"campaign {ref!r} is a folder; expected a campaign file (TOML) or a campaign name"
        )
    name = campaign_name(ref)
    if queries.campaign_latest(session, name) is not None:
        return registered(session, name, label=ref)
    hit = bundled_file(ref)
    if hit is not None:
        row, spec, _ = add(session, hit)
        return row, spec
    raise CampaignError(_not_found(ref, sorted({c.name for c in queries.campaigns(session) if c.spec_text})))


def spec_of(session: Session | None, ref: str) -> CampaignSpec:
    """A campaign's spec without registering anything (file, registered name or shipped file)."""
    path = Path(ref).expanduser()
    if path.is_file():
        return load_spec(path)
    name = campaign_name(ref)
    if session is not None and queries.campaign_latest(session, name) is not None:
        return registered(session, name, label=ref)[1]
    hit = bundled_file(ref)
    if hit is not None:
        return load_spec(hit)
    known = sorted({c.name for c in queries.campaigns(session) if c.spec_text}) if session is not None else []
    raise CampaignError(_not_found(ref, known))


def registered(session: Session, name: str, label: str | None = None) -> tuple[Campaign, CampaignSpec]:
    """The latest registered revision of a campaign name and its spec (read only)."""
    row = queries.campaign_latest(session, name)
    if row is None or not row.spec_text:
        known = sorted({c.name for c in queries.campaigns(session) if c.spec_text})
        raise CampaignError(
            f"campaign {label or name!r} not found; known campaigns: {', '.join(known) or 'none'} "
            "(register one with `drxlab campaign add FILE`)"
        )
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

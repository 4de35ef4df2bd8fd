"""How long pending samples (suggested or synthesised, no result yet) have been waiting."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session

from drxlab.candidates.spec import CampaignSpec, parse_spec
from drxlab.store.tables import Campaign, Sample, utcnow

DAY_S = 86400.0
DEFAULT_MAX_DAYS = CampaignSpec.__dataclass_fields__["max_pending_days"].default


class Ages:
    """Age in days and the campaign's ``max_pending_days`` per sample (campaign files read once)."""

    def __init__(self, session: Session, now: datetime | None = None) -> None:
        self.session, self.now = session, now or utcnow()
        self._limits: dict[int | None, float] = {None: DEFAULT_MAX_DAYS}

    def limit(self, campaign_id: int | None) -> float:
        if campaign_id not in self._limits:
            camp = self.session.get(Campaign, campaign_id)
            spec = (
                parse_spec(camp.spec_text, source=f"campaign {camp.name}")
                if camp and camp.spec_text
                else None
            )
            self._limits[campaign_id] = spec.max_pending_days if spec else DEFAULT_MAX_DAYS
        return self._limits[campaign_id]

    def of(self, smp: Sample) -> dict:
        """``{"age_days", "max_pending_days", "overdue"}`` of a sample, age counted from its suggestion."""
        made = smp.created_at if smp.created_at.tzinfo else smp.created_at.replace(tzinfo=UTC)
        age = (self.now - made).total_seconds() / DAY_S
        limit = self.limit(smp.campaign_id)
        return {"age_days": round(age, 2), "max_pending_days": limit, "overdue": age > limit}

"""Candidate compositions of a campaign: the campaign file (:mod:`.spec`) and the enumerator
(:mod:`.generator`)."""

from __future__ import annotations

from drxlab.candidates.generator import (
    Candidate,
    CandidateChunk,
    candidate_formulas,
    candidates_of,
    check_feasible,
    count_candidates,
    first_candidates,
    iter_candidates,
)
from drxlab.candidates.spec import (
    ACQUISITION_KINDS,
    OBJECTIVE_KINDS,
    AcquisitionSpec,
    CampaignSpec,
    Objective,
    Species,
    load_spec,
    parse_spec,
)

__all__ = [
    "ACQUISITION_KINDS",
    "OBJECTIVE_KINDS",
    "AcquisitionSpec",
    "CampaignSpec",
    "Candidate",
    "CandidateChunk",
    "Objective",
    "Species",
    "candidate_formulas",
    "candidates_of",
    "check_feasible",
    "count_candidates",
    "first_candidates",
    "iter_candidates",
    "load_spec",
    "parse_spec",
]

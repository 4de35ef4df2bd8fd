"""Writing parsed tests into the store: import of files and of virtual-lab measurements."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session

from drxlab.chem import compositions
from drxlab.profiles.importers import ParsedFile, ParsedTest
from drxlab.store import queries
from drxlab.store.tables import ElectrochemTest, Material, Sample
from drxlab.vocabulary import SampleStatus


@dataclass
class ImportSummary:
    """What an import wrote (or skipped)."""

    files: int = 0
    tests: int = 0
    profiles: int = 0
    materials: set[str] = field(default_factory=set)
    skipped: list[str] = field(default_factory=list)  # messages for files not written


def material(session: Session, formula: str, amounts: dict, states: dict) -> Material:
    """The material row of a normalised formula (created with its metal count and class)."""
    return queries.material_for(
        session,
        formula,
        amounts,
        states,
        len(compositions.metals(amounts)),
        compositions.composition_class(amounts),
    )


def write_test(
    session: Session,
    test: ParsedTest,
    *,
    sample: Sample | None = None,
    campaign_id: int | None = None,
    source_name: str = "",
    sha256: str = "",
    virtual: bool = False,
) -> ElectrochemTest:
    """Material (created on first use), sample (unless given) and test with its profiles."""
    mat = material(session, test.formula, test.amounts, test.oxidation_states)
    if sample is None:
        sample = queries.add_sample(session, mat.id, campaign_id=campaign_id, status=SampleStatus.TESTED)
    return queries.add_test(
        session,
        sample.id,
        rate=test.rate,
        v_low=test.v_low,
        v_high=test.v_high,
        profiles=test.profiles,
        active_mass=test.active_mass,
        electrode_mass=test.electrode_mass,
        source_file=source_name,
        source_sha256=sha256,
        instrument=test.instrument,
        virtual=virtual,
    )


def import_files(
    session: Session, files: list[ParsedFile], *, campaign_id: int | None = None
) -> ImportSummary:
    """Write parsed files; a file already imported (same sha256) is skipped with a message."""
    summary = ImportSummary()
    seen: set[str] = set()
    for pf in files:
        earlier = queries.source_known(session, pf.sha256)
        if earlier is not None or pf.sha256 in seen:
            name = earlier.name if earlier else "an earlier file of this import"
            summary.skipped.append(
                f"{pf.path}: already imported (same content as {name}, sha256 {pf.sha256[:12]}); skipped"
            )
            continue
        seen.add(pf.sha256)
        queries.add_source(session, pf.sha256, pf.path.name, pf.format)
        for test in pf.tests:
            write_test(session, test, campaign_id=campaign_id, source_name=pf.path.name, sha256=pf.sha256)
            summary.tests += 1
            summary.profiles += len(test.profiles)
            summary.materials.add(test.formula)
        summary.files += 1
    return summary

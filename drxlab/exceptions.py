"""The one place drxlab's errors are defined.

Every error a user can cause is a :class:`DrxlabError`; the CLI prints its message and exits
non-zero. Messages name the offending value, where it came from (file, row, field) and what was
expected. They never name a command-line flag: a refusal the caller may override names the
keyword that overrides it (``option``, e.g. ``force``), and the CLI words that as its flag.
"""

from __future__ import annotations


class DrxlabError(Exception):
    """Base class of every error drxlab reports to a user (exit code 1).

    ``option``: the keyword argument(s) (and command-line options) that ask for the refused thing
    anyway or supply what was missing, e.g. ``force``; ``option_use``: what passing it does,
    e.g. ``"if the value is right"``. Both empty for an error no option changes.
    """

    def __init__(self, *args: object, option: str | tuple[str, ...] = "", option_use: str = "") -> None:
        super().__init__(*args)
        self.option = option
        self.option_use = option_use


class CompositionError(DrxlabError):
    """A composition that cannot be parsed, has unknown elements or is not a valid DRX target."""


class ChargeBalanceError(CompositionError):
    """No assignment of common oxidation states balances the composition."""


class ProfileError(DrxlabError):
    """A discharge segment that cannot be turned into a standardised profile."""


class ImportFileError(DrxlabError):
    """A data file that cannot be imported (names the file, row and field)."""


class StoreError(DrxlabError):
    """The experiment store cannot be opened or is in an unexpected state."""


class ModelError(DrxlabError):
    """A model that cannot be built, loaded or used (missing, corrupt, mismatched)."""


class ConditionError(DrxlabError):
    """Invalid test conditions: rate, voltage window or cycle number."""


class CampaignError(DrxlabError):
    """An invalid or infeasible campaign specification."""


class OracleError(DrxlabError):
    """A virtual-lab oracle that does not exist or cannot measure the composition."""


class TrainingError(DrxlabError):
    """A training or fine-tuning run that cannot start: bad configuration or unsuitable data."""


class NothingToFinetuneError(TrainingError):
    """Fine-tuning was asked for, but the model has already seen every test (a no-op)."""


class SampleError(DrxlabError):
    """A sample that cannot take the requested result."""


class SampleNotFoundError(SampleError):
    """No sample with that id."""


class SampleStateError(SampleError):
    """The sample already has its outcome (tested or failed) or is otherwise in the wrong state."""


class SampleClosedError(SampleStateError):
    """The sample already has its outcome; a new one must replace it explicitly (``replace``)."""

    def __init__(self, sample_id: int, status: str) -> None:
        super().__init__(
            f"sample {sample_id} is already {status}",
            option="replace",
            option_use="to log new results (the earlier ones are kept as history)",
        )
        self.sample_id = sample_id
        self.status = status

    def __reduce__(self) -> tuple:
        return type(self), (self.sample_id, self.status)


class SuspectDataError(ImportFileError):
    """Data that look wrong (a unit slip, a file already stored) but may be right (``force``)."""

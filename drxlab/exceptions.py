"""The one place drxlab's errors are defined.

Every error a user can cause is a :class:`DrxlabError`; the CLI prints its message and exits
non-zero. Messages name the offending value, where it came from (file, row, field) and what was
expected.
"""

from __future__ import annotations


class DrxlabError(Exception):
    """Base class of every error drxlab reports to a user (exit code 1)."""


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

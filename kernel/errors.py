"""The error hierarchy: every message says what was wrong, where, and what to do."""


class SafeBenchError(Exception):
    """Base of every error SafeBench raises on purpose."""


class ConfigError(SafeBenchError):
    """A config file or value is invalid."""


class DatasetError(SafeBenchError):
    """A dataset file, row or media reference is invalid."""


class ProviderError(SafeBenchError):
    """A model call failed after its retries (or could not be retried)."""

    def __init__(self, message: str, *, model: str, kind: str, status: int | None = None):
        super().__init__(message)
        self.model = model
        self.kind = kind
        self.status = status


class VoteParseError(SafeBenchError):
    """A juror's reply held no valid vote."""


class StoreError(SafeBenchError):
    """The run store is unreadable, of another schema version, or belongs to another run."""


class ConfigChanged(StoreError):
    """A resume whose result-bearing config differs from the one the store was made with."""


class StoreInUse(StoreError):
    """Another process is writing the run store (one writer per store)."""


class ClusterUnavailable(SafeBenchError):
    """The Ray cluster of ``executor: ray`` cannot be reached, or cannot place the actors."""


class RunAborted(SafeBenchError):
    """The run stopped because too many items failed."""

"""Errors a user can cause through data or configuration; callers turn them into one clear line."""


class MtlError(ValueError):
    """Base class for problems in user-supplied data or model configuration."""


class DataError(MtlError):
    """A data set cannot be loaded or used: missing column, non-numeric feature, NaN, bad file."""


class ConfigError(MtlError):
    """A model configuration cannot be built (for example tied outputs over unlike tasks)."""


class TrialFailed(RuntimeError):
    """Training diverged or ran out of resources: the trial fails, the sweep goes on."""

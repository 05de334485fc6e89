"""Errors a user can act on.

Every error raised on a user mistake derives from :class:`LReIDError`; the CLI prints its message on one
line and exits with status 2 instead of showing a stack trace. Messages name the file or field at fault and
say what to do.
"""
from __future__ import annotations


class LReIDError(Exception):
    """Base class for errors caused by user input (data, configuration, weights)."""


class DatasetLayoutError(LReIDError):
    """A dataset folder does not follow the layout its reader expects."""


class ManifestError(LReIDError):
    """A CSV manifest is missing a column or holds a malformed row."""


class ImageReadError(LReIDError):
    """An image file cannot be opened or decoded."""


class ModelLoadError(LReIDError):
    """A model name is unknown or its pretrained weights cannot be obtained."""


class ConfigError(LReIDError):
    """An experiment file or a ``--set`` override is invalid."""


class CheckpointError(LReIDError):
    """A checkpoint is missing, corrupt or belongs to another experiment."""


class TrainingDivergedError(LReIDError):
    """A loss or a feature became NaN or infinite (learning rate too high, or weights already broken)."""

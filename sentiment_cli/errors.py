"""The library's exception types.

Every message says what is wrong, where (file and line when there is one) and how to fix
it. Only ``cli.py`` turns these into exit codes.
"""

from __future__ import annotations


class SentimentError(Exception):
    """Base class: an error the user can fix, reported without a traceback."""


class DataError(SentimentError):
    """A data file that cannot be read as asked."""

    def __init__(self, path, message: str, line: int | None = None, fix: str | None = None):
        self.path = str(path)
        self.message = message
        self.line = line
        self.fix = fix
        where = self.path if line is None else f"{self.path}, line {line}"
        text = f"{where}: {message}"
        if fix:
            text += f". {fix}"
        super().__init__(text)


class MissingLabels(DataError):
    """A file read for its labels that has none (a test layout, no label column). ``other``: the
    fix for a file that does have them, to offer beside `evaluate`'s --gold (None: it has none)."""

    def __init__(self, path, message: str, line: int | None = None, fix: str | None = None,
                 other: str | None = None):
        super().__init__(path, message, line, fix)
        self.other = other


class ConfigError(SentimentError):
    """Hyperparameters that cannot work together."""


class RunError(SentimentError):
    """A run directory that is missing, damaged, or would be overwritten."""


class FetchError(SentimentError):
    """A download that failed, or an archive that is not the one asked for."""

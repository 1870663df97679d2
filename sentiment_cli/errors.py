"""The library's exception types.

Every message says what is wrong, where (file and line when there is one) and how to fix
it. Only ``cli.py`` turns these into exit codes.
"""

from __future__ import annotations

import errno
import os


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


class DiskFull(SentimentError):
    """A write that found no room: the disk or the quota is full, or the file may not grow."""


# No room to write: a full disk, a full quota, or a file past the size a process may write
# (EFBIG: ulimit -f, RLIMIT_FSIZE, or the filesystem's largest file).
NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def no_room(exc: BaseException) -> bool:
    """Whether ``exc`` is a write that found no room (see ``NO_ROOM``)."""
    return _no_room_reason(exc) is not None


def _no_room_reason(exc: BaseException) -> str | None:
    if isinstance(exc, OSError):
        return (exc.strerror or os.strerror(exc.errno)) if exc.errno in NO_ROOM else None
    # TensorFlow's file system (a SavedModel, TensorBoard) turns errno into a status code of its
    # own and keeps the system's message: "PATH; File too large"
    if type(exc).__module__.startswith("tensorflow"):
        message = str(exc).rstrip()
        return next((os.strerror(e) for e in NO_ROOM if message.endswith(os.strerror(e))), None)
    return None


def disk_full(exc: BaseException, folder, then: str = "run again", target=None, intact: bool = True) -> DiskFull:
    """The one line for a write that found no room in ``folder``: what (``target``, the file the
    user asked for, rather than the temporary one that failed), where, and the fix. intact: the
    writer wrote beside and renames, so what was there before is as it was."""
    what = target or getattr(exc, "filename", None) or f"into {folder}"
    return DiskFull(f"no room to write {what} ({_no_room_reason(exc) or 'no space left'})"
                    f"{': nothing was replaced' if intact else ''}. Free space on the disk of {folder} (or raise "
                    f"the quota or file size limit) and {then}")

"""The errors and warnings napari-cuts raises for people: one line, naming the input."""

from __future__ import annotations


class CutsInputError(ValueError):
    """A user mistake with inputs (file, format, shape, encoder); the message is for people."""


class CutsWriteError(OSError, CutsInputError):
    """An output could not be written (full disk, read-only, permissions).

    Made like an OSError, ``CutsWriteError(errno, reason, output)``; ``str()`` is one line
    naming the output and the reason.
    """

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror}"


class CutsWarning(UserWarning):
    """Something about the input people should know; the message is one line."""

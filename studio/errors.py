"""Errors a user can act on.

A StudioError says what happened, to which file or row, and what to do (`hint`). The CLI
prints it as one line and exits 2; the window shows it in a dialog without a traceback.
Anything that is not a StudioError is a bug: exit 1, and the error dialog with details.
"""

from __future__ import annotations


class StudioError(Exception):
    """A failure the user can fix: bad input, a missing file, a full disk."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UserError(StudioError):
    """Bad input on the command line or in a form."""


class NotFound(UserError):
    """A named model, dataset, job or conversation does not exist."""

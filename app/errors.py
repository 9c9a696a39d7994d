"""Errors that decide a job's fate: bad input fails at once, transient trouble is retried."""

from __future__ import annotations


class InputError(Exception):
    """The source or the request cannot be processed; `message` tells a person what to fix."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class TransientError(Exception):
    """Something outside the input went wrong (a killed encoder, a lost connection): retry."""


class VerificationError(Exception):
    """The rendered reel missed a target it must meet; a bug of ours, never the user's input."""

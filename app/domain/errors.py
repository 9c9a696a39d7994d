"""Errors that decide a job's fate: bad input fails at once, transient trouble is retried."""

from __future__ import annotations

import re

# A path with at least one directory: what a message must not show of the server's disk.
_PATH = re.compile(r"(?<![\w.])(?:/[^\s/:'\"(),]+)+/([^\s/:'\"(),]+)")


def without_paths(text: str) -> str:
    """`text` with every absolute path cut down to its file name: fit for a job's error or a problem detail."""
    return _PATH.sub(lambda m: m.group(1), text)


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


class QualityTargetMissed(Exception):
    """The reel missed a sound target even after correction; `figures` holds what was measured."""

    def __init__(self, message: str, *, figures: dict[str, object]) -> None:
        super().__init__(message)
        self.message = message
        self.figures = figures

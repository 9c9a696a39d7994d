"""Every way an attempt can end badly, classified in one place, and the words a client reads about it.

Three outcomes: the services around the job failed (hand it back: not the job's fault, not counted, not an
error), the job's step hit a passing trouble (retry: counted toward MAX_ATTEMPTS), or the job fails with a code
of `JOB_ERRORS`. A message is built from the code and facts we know (the stage, an errno's name), never from an
exception's text or a tool's output: those go to the log, which carries the job id.
"""

from __future__ import annotations

import enum
import errno
from dataclasses import dataclass
from typing import Any

from app.domain.errors import InputError, QualityTargetMissed, TransientError, VerificationError
from app.media.ffmpeg import FFmpegError
from app.ops.outages import SERVICE_DOWN
from app.storage.sources import SourceError


class Outcome(enum.Enum):
    HAND_BACK = "hand_back"  # requeued soon, no attempt used up
    RETRY = "retry"  # requeued with backoff; a fault, so MAX_ATTEMPTS ends it
    FAIL = "fail"  # final


@dataclass(frozen=True)
class Failure:
    """What to do about an exception, and what the job says about it."""

    outcome: Outcome
    code: str  # a JOB_ERRORS code when the outcome is FAIL; the kind of trouble otherwise (a metric label)
    message: str  # for a client: the failure when final, the trouble ("the encoder was killed") otherwise
    user: bool = False
    details: dict[str, Any] | None = None


# A disk's trouble, the same words whether ffmpeg or our own code met it.
_DISK = {
    errno.ENOSPC: "No space left on device: the server's disk was full",
    errno.EIO: "the server's disk reported an I/O error",
    errno.EDQUOT: "the server's disk quota was exceeded",
}


def classify(exc: BaseException, stage: str) -> Failure:
    """The outcome of `exc`, raised in `stage`; the order matters (ConnectionError and TimeoutError are OSErrors)."""
    if isinstance(exc, (SourceError, InputError)):
        return Failure(Outcome.FAIL, exc.code, exc.message, user=True)
    if isinstance(exc, QualityTargetMissed):
        return Failure(Outcome.FAIL, "quality_target_missed", exc.message, details=exc.figures)
    if isinstance(exc, VerificationError):
        return Failure(Outcome.FAIL, "verification_failed", f"The reel did not pass verification: {exc}")
    if isinstance(exc, SERVICE_DOWN):
        return Failure(Outcome.HAND_BACK, "service_unavailable", "a service the job needs stopped answering")
    if isinstance(exc, TransientError):
        return Failure(Outcome.RETRY, "transient", exc.message)
    if isinstance(exc, TimeoutError):
        return Failure(Outcome.RETRY, "timeout", f"a step of the {stage} stage timed out")
    if isinstance(exc, FFmpegError):
        return _tool(exc, stage)
    if isinstance(exc, OSError):
        if exc.errno in _DISK:
            return Failure(Outcome.RETRY, "disk", _DISK[exc.errno])
        what = f" ({errno.errorcode[exc.errno]})" if exc.errno is not None and exc.errno in errno.errorcode else ""
        return Failure(Outcome.FAIL, "io_error", f"A file operation on the server failed in the {stage} stage{what}.")
    return Failure(
        Outcome.FAIL,
        "processing_failed",
        f"The {stage} stage stopped on an error of ours; it was logged. Submitting the job again may work.",
    )


def _tool(exc: FFmpegError, stage: str) -> Failure:
    if exc.killed_by_signal:
        return Failure(Outcome.RETRY, "killed", f"the {exc.tool} process was killed (out of memory, or an operator)")
    if exc.disk_errno is not None:
        return Failure(Outcome.RETRY, "disk", _DISK[exc.disk_errno])
    return Failure(
        Outcome.FAIL,
        "processing_failed",
        f"The {stage} stage could not process the source with {exc.tool}. "
        "Re-export the video with a common codec (H.264 in MP4) and submit it again.",
    )

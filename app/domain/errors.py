"""Errors that decide a job's fate: bad input fails at once, transient trouble is retried."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A path with at least one directory: what a message must not show of the server's disk. Directory names may
# hold spaces and colons ("/srv/my media/x.mp4"); a URL's "//" does not start one.
_PATH = re.compile(r"(?<![\w.:/])(?:/[^/\n'\"()]+)*/([^\s/:'\"(),]+)")


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
    """Something outside the input went wrong (a killed encoder, a lost connection): retry.

    `message` is shown to the client while the job waits ("Retrying after: …"): our words, no exception text.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class VerificationError(Exception):
    """The rendered reel missed a target it must meet; a bug of ours, never the user's input."""


class QualityTargetMissed(Exception):
    """The reel missed a sound target even after correction; `figures` holds what was measured."""

    def __init__(self, message: str, *, figures: dict[str, object]) -> None:
        super().__init__(message)
        self.message = message
        self.figures = figures


@dataclass(frozen=True)
class JobErrorCode:
    """One `error.code` a job can end with: what it means, whose it is, and whether submitting again can help."""

    code: str
    meaning: str
    user: bool  # the input or the request: counted in rejected_inputs_total, never in errors_total
    retryable: bool  # the same request submitted again may succeed (the cause may pass, or was ours)


def _codes(*rows: tuple[str, bool, bool, str]) -> dict[str, JobErrorCode]:
    return {code: JobErrorCode(code, meaning, user, retryable) for code, user, retryable, meaning in rows}


# Every code a job's `error.code` can hold: the contract's enum, the README's table and the metrics' labels come
# from here. (code, user, retryable, meaning)
JOB_ERRORS: dict[str, JobErrorCode] = _codes(
    ("source_missing", True, False, "input_path names no file under MEDIA_ROOT (any more)"),
    ("source_unreadable", True, False, "the file is not a video ffprobe can read: corrupt or not media"),
    ("source_truncated", True, False, "the video cannot be decoded near its start or end: truncated or corrupt"),
    ("unsupported_container", True, False, "a playlist, concat list or other container that is not one media file"),
    ("unsupported_codec", True, False, "a video codec the service does not decode"),
    ("no_video_stream", True, False, "the file has no video stream"),
    ("video_too_small", True, False, "the picture is smaller than the service accepts"),
    ("duration_out_of_range", True, False, "the source is shorter or longer than MAX_SOURCE_SECONDS allows"),
    ("hdr_unsupported", True, False, "HDR (PQ, HLG or BT.2020): tone-map it to SDR BT.709 first"),
    ("no_clips_in_source", True, False, "every highlight lies past the end of the source"),
    ("input_not_found", True, False, "the upload, object or URL host named as the source does not exist"),
    ("input_not_a_file", True, False, "input_path names a directory or special file"),
    ("invalid_input_path", True, False, "input_path cannot name a file (a NUL byte, a name too long)"),
    ("input_outside_media_root", True, False, "input_path leads outside MEDIA_ROOT"),
    ("invalid_input_url", True, False, "input_url is not a URL the service can fetch"),
    ("input_url_not_allowed", True, False, "the s3:// bucket is not in INPUT_S3_ALLOW"),
    ("input_url_refused", True, False, "input_url (or a redirect) points to a private address or loops"),
    ("input_forbidden", True, False, "the object store refused access to the source"),
    ("input_not_video", True, False, "input_url answers with a document, not a video"),
    ("input_too_large", True, False, "the source is larger than MAX_INPUT_BYTES"),
    ("input_unavailable", True, False, "input_url answered other than 200 with the video"),
    ("input_timeout", True, True, "input_url did not download within the time allowed"),
    ("base_job_expired", True, False, "the job named in based_on no longer keeps its source: its reel expired"),
    ("quality_target_missed", False, True, "the reel missed a sound target even after correction: details has why"),
    ("verification_failed", False, True, "the reel's picture failed verification: a bug of ours"),
    ("processing_failed", False, True, "a tool or a step of ours failed on this source; the log has the cause"),
    ("io_error", False, True, "a file operation on the server failed"),
    ("retries_exhausted", False, True, "a passing trouble (a killed encoder, a full disk) came back every attempt"),
    ("too_many_attempts", False, True, "the job's attempts kept ending in faults (e.g. its worker was killed)"),
)
# Not a failure: the message a job shows while it waits to be tried again.
RETRYING = "retrying"


@dataclass(frozen=True)
class ProblemCode:
    """One `code` an API error (a problem+json body) can hold: the statuses it comes with and what it means."""

    code: str
    statuses: tuple[int, ...]
    meaning: str


def _problems(*rows: tuple[str, tuple[int, ...], str]) -> dict[str, ProblemCode]:
    return {code: ProblemCode(code, statuses, meaning) for code, statuses, meaning in rows}


# Every `code` an API error can hold: the contract's Problem.code, the README's table and the tests come from here.
# A code a job can also fail with (input_not_found, …) means the same at submit. (code, statuses, meaning)
PROBLEMS: dict[str, ProblemCode] = _problems(
    ("invalid_request", (422,), "a field is missing, of the wrong type or out of range: `errors` names each"),
    ("empty_upload", (400,), "the upload has no bytes"),
    ("invalid_multipart", (400,), "a multipart upload's body cannot be read, or has no complete `file` field"),
    ("upload_incomplete", (400,), "the upload was cut off before its end; nothing was kept"),
    ("http_error", (400,), "the HTTP request itself is malformed"),
    ("unauthorized", (401,), "no valid API key: send `Authorization: Bearer <key>` or `X-API-Key`"),
    ("signed_url_invalid", (401,), "the signed URL is not for this job and resource, was altered, or its key revoked"),
    ("signed_url_expired", (401,), "the signed URL's `expires` has passed: mint a new one"),
    ("metrics_token_required", (401,), "/metrics needs `Authorization: Bearer <METRICS_TOKEN>`"),
    ("not_found", (404,), "no such path"),
    ("job_not_found", (404,), "no such job for this API key"),
    ("output_not_found", (404,), "the completed job's file is not stored"),
    ("captions_not_found", (404,), "the reel has no captions: none of its clips was transcribed"),
    ("analysis_not_found", (404,), "the job has no analysis: not completed, or expired with its reel"),
    ("source_not_playable", (404,), "the source is not H.264 with AAC (or no audio) in MP4/MOV: use the filmstrip"),
    ("webhook_not_found", (404,), "the job has no webhook_url, so it sends no webhooks"),
    ("signed_urls_not_configured", (404,), "the server has no WEBHOOK_SECRET, from which signed URLs take their key"),
    ("webhooks_not_configured", (404, 422), "the server has no WEBHOOK_SECRET: it sends no webhooks"),
    ("method_not_allowed", (405,), "the path does not take this method: `Allow` lists those it takes"),
    ("job_finished", (409,), "the job already ended: there is nothing to cancel"),
    ("output_not_ready", (409,), "the job is not completed: its reel does not exist yet"),
    ("webhook_not_sent", (409,), "the job has not ended, so its webhook has not been written"),
    ("webhook_in_flight", (409,), "an attempt at the webhook is under way"),
    ("output_expired", (410,), "the reel existed and has expired (OUTPUT_TTL) or was deleted"),
    ("body_too_large", (413,), "a JSON body is larger than MAX_BODY_BYTES"),
    ("input_too_large", (413,), "the upload is larger than MAX_INPUT_BYTES"),
    ("upload_quota_exceeded", (413, 429), "the key's unexpired uploads: too many (429) or too many bytes (413)"),
    ("invalid_cursor", (422,), "cursor is not a `next_cursor` this API returns"),
    ("input_not_found", (422,), "input_path names no file under MEDIA_ROOT"),
    ("input_not_a_file", (422,), "input_path names a directory or special file"),
    ("invalid_input_path", (422,), "input_path cannot name a file (a NUL byte, a name too long)"),
    ("input_outside_media_root", (422,), "input_path leads outside MEDIA_ROOT"),
    ("input_path_unavailable", (422,), "the server keeps media in object storage: send input_url or input_upload"),
    ("invalid_input_url", (422,), "input_url is not a URL the service can fetch"),
    ("input_url_not_allowed", (422,), "the s3:// bucket is not in INPUT_S3_ALLOW"),
    ("input_url_refused", (422,), "input_url points to a private, loopback or link-local address"),
    ("upload_not_found", (422,), "input_upload names no unexpired upload of this API key"),
    ("base_job_not_found", (404,), "based_on names no job of this API key"),
    ("base_job_not_completed", (409,), "the job named in based_on has not completed (or failed, or was cancelled)"),
    ("base_job_expired", (422,), "the job named in based_on no longer keeps its files: its reel expired or went"),
    ("invalid_webhook_url", (422,), "webhook_url is not a URL the service may send to"),
    ("too_many_highlights", (422,), "more highlights than MAX_HIGHLIGHTS"),
    ("idempotency_key_reused", (422,), "the Idempotency-Key was used with another request body"),
    ("rate_limited", (429,), "more than RATE_LIMIT_PER_MINUTE requests this minute: wait `Retry-After` seconds"),
    ("too_many_queued_jobs", (429,), "the key has MAX_QUEUED_PER_KEY queued jobs already"),
    ("internal_error", (500,), "a bug of ours; the log has it under the request id"),
    ("database_unavailable", (503,), "PostgreSQL is not answering: retry after `Retry-After` seconds"),
    ("redis_unavailable", (503,), "Redis is not answering: retry after `Retry-After` seconds"),
    ("storage_unavailable", (503,), "the object store (S3) is not answering: retry after `Retry-After` seconds"),
    ("not_ready", (503,), "a dependency is not answering (`checks` says which)"),
)

"""Where a job's source comes from: a file under MEDIA_ROOT, or an S3 object staged into the job's temp dir."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from app.config import Settings
from app.domain.spec import JobSpec
from app.net.guard import check_target
from app.stages.fetch import Staged, in_place
from app.storage import Media, ObjectError, S3Location
from app.storage.base import Progress
from app.storage.http import FetchLimits, fetch, url_refusal


class SourceError(Exception):
    """The job's source cannot be used: a stable code and a sentence a person can act on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def resolve_source(media_root: Path, input_path: str) -> Path:
    """The real path of `input_path` under `media_root`; raises SourceError otherwise."""
    root = media_root.resolve()
    if "\x00" in input_path:
        raise SourceError("invalid_input_path", "input_path contains a NUL byte.")
    candidate = Path(input_path)
    # An absolute path is accepted only when it already lies under MEDIA_ROOT.
    try:
        target = (candidate if candidate.is_absolute() else root / candidate).resolve()
        exists, is_file = target.exists(), target.is_file()
    except OSError as exc:  # a name longer than the filesystem allows, a loop of symlinks
        raise SourceError("invalid_input_path", f"input_path cannot name a file here: {exc.strerror}.") from exc
    if not target.is_relative_to(root):
        raise SourceError(
            "input_outside_media_root",
            f"input_path {input_path!r} points outside the media directory; give a path relative to MEDIA_ROOT.",
        )
    if not exists:
        raise SourceError("input_not_found", f"No file {input_path!r} under the media directory.")
    if not is_file:
        raise SourceError("input_not_a_file", f"{input_path!r} is not a regular file.")
    return target


@dataclass(frozen=True)
class SourceRules:
    """What sources this server reads: MEDIA_ROOT, S3 prefixes, and how input URLs are fetched."""

    media_root: Path
    s3_allow: list[str]
    fetch: FetchLimits

    @classmethod
    def of(cls, settings: Settings) -> SourceRules:
        limits = FetchLimits(
            allow_private=settings.input_allow_private,
            allow_http=settings.input_allow_http,
            max_bytes=settings.max_input_bytes,
            seconds=settings.input_fetch_seconds,
        )
        return cls(settings.media_root, settings.input_s3_allow, limits)


async def check_source(spec: JobSpec, media: Media, rules: SourceRules) -> None:
    """At submit: refuse a source the worker could never read; raises SourceError."""
    if spec.input_path is not None:
        if not media.store.shares_disk:
            raise SourceError(
                "input_path_unavailable", "This server keeps media in object storage; send input_url instead."
            )
        resolve_source(rules.media_root, spec.input_path)
    elif spec.input_url is not None and spec.input_url.startswith("s3://"):
        s3_input(spec.input_url, media, rules.s3_allow)
    elif spec.input_url is not None:
        if reason := url_refusal(spec.input_url, allow_http=rules.fetch.allow_http):
            raise SourceError("invalid_input_url", reason)
        # A loopback or private target is refused now; every hop is checked again when the worker fetches.
        if reason := await check_target(spec.input_url, allow_private=rules.fetch.allow_private, field="input_url"):
            raise SourceError("input_url_refused", reason)


def s3_input(url: str, media: Media, s3_allow: list[str]) -> S3Location:
    """The S3 object an `s3://` input_url names, if this server may read it; raises SourceError otherwise."""
    try:
        where = S3Location.parse(url)
    except ValueError as exc:
        raise SourceError("invalid_input_url", "input_url must be an s3://bucket/key URL.") from exc
    if not where.key or where.key.endswith("/") or ".." in PurePosixPath(where.key).parts:
        raise SourceError("invalid_input_url", "input_url must name one object: s3://bucket/key.")
    allowed = [S3Location.parse(p) for p in s3_allow]
    # The store's own objects (other keys' uploads and reels) are never an input, whatever the allow list says.
    if media.objects is None or media.store.owns(where) or not any(where.within(a) for a in allowed):
        raise SourceError("input_url_not_allowed", "This server does not read sources from that bucket or prefix.")
    return where


async def stage_source(
    spec: JobSpec, media: Media, rules: SourceRules, *, job_dir: Path, on_progress: Progress | None = None
) -> Staged:
    """A local file ffmpeg can read: the file under MEDIA_ROOT or the local upload itself, else a copy in `job_dir`.

    A copy streams in with its progress reported and its hash computed on the way, so validation need not read
    it again. A copy kept from an earlier attempt on this machine is reused (it is renamed into place only
    when complete) and hashed by validation, whose check decides whether its checkpoint holds.
    """
    if spec.input_path is not None:
        return await in_place(resolve_source(rules.media_root, spec.input_path))
    if spec.input_upload is not None:
        upload = await media.store.stage_upload(str(spec.input_upload), job_dir, on_progress=on_progress)
        if upload is None:
            raise SourceError("input_not_found", f"Upload {spec.input_upload} is no longer stored; upload it again.")
        return await _staged(*upload)
    assert spec.input_url is not None
    dest = job_dir / "source"
    if dest.is_file():  # renamed into place only when complete
        return await in_place(dest)
    job_dir.mkdir(parents=True, exist_ok=True)
    try:
        if spec.input_url.startswith("s3://"):
            where = s3_input(spec.input_url, media, rules.s3_allow)
            assert media.objects is not None
            _, digest = await media.objects.download(
                where, dest, max_bytes=rules.fetch.max_bytes, on_progress=on_progress
            )
        else:
            _, digest = await fetch(spec.input_url, dest, rules.fetch, on_progress=on_progress)
    except ObjectError as exc:
        raise SourceError(exc.code, exc.message) from exc
    return await _staged(dest, digest)


async def stage_base(base_id: str, base: JobSpec, media: Media, rules: SourceRules, *, job_dir: Path) -> Staged:
    """What a job `based_on` `base_id` reads: that job's source (under MEDIA_ROOT, or as it published it) and the
    features it published, both as they lie on a local store, streamed into `job_dir` from S3."""
    if base.input_path is not None:
        staged = await in_place(resolve_source(rules.media_root, base.input_path))
    else:
        path = await media.store.stage_output(base_id, "source", job_dir)
        if path is None:
            raise SourceError(
                "base_job_expired",
                f"The source of job {base_id} is no longer kept (its reel expired): submit it again.",
            )
        staged = await in_place(path)
    features = await media.store.stage_output(base_id, "features", job_dir)
    return staged.model_copy(update={"features": None if features is None else str(features)})


async def _staged(path: Path, sha256: str | None) -> Staged:
    return (await in_place(path)).model_copy(update={"sha256": sha256})

"""S3 (and any S3-compatible server): streamed downloads and multipart uploads, and the S3 store of reels."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, ResponseStreamingError

from app.storage.base import SUFFIX, ObjectError, Output, Progress, ReelDownload, S3Location, save_stream
from app.storage.cache import ObjectCache, object_key

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef, CopySourceTypeDef

CHUNK = 1 << 20  # bytes per read of a download: a thread hop per MiB costs nothing next to the network
PART = 16 << 20  # bytes per multipart part (S3's minimum is 5 MiB); one part is all an upload holds in memory
COPY_PART = 1 << 30  # bytes per part of a copy inside the store; one request copies up to 5 GiB, a part as much
_TYPES: dict[Output, str] = {
    "reel": "video/mp4",
    "thumbnail": "image/jpeg",
    "captions": "text/vtt",
    "analysis": "application/json",
    "filmstrip": "image/jpeg",
    "source": "video/mp4",  # served only when an MP4/MOV a browser plays: a <video> reads it as one
    "features": "application/gzip",
}
_MISSING = {"NoSuchKey", "404", "NotFound"}
_FORBIDDEN = {"AccessDenied", "403", "Forbidden", "AllAccessDisabled"}


@contextlib.asynccontextmanager
async def _body(response: Any) -> AsyncIterator[Any]:
    """An object's body. One cut short raises botocore's ResponseStreamingError, as botocore's own client does:
    aiobotocore lets aiohttp's error through, and the rest of the service knows S3's failures by botocore's."""
    from aiohttp import ClientPayloadError  # loaded already: aiobotocore made the request with it

    try:
        async with response["Body"] as body:
            yield body
    except ClientPayloadError as exc:
        raise ResponseStreamingError(error=exc) from exc


def _read(path: Path, offset: int, size: int) -> bytes:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read(size)


class S3Objects:
    """Object transfers over one aiobotocore client; files are written and hashed in threads, never on the loop."""

    def __init__(self, client: S3Client, *, presigner: S3Client | None = None) -> None:
        self.client = client
        # A presigned URL's signature covers its host: one clients reach (a published MinIO port, say) must be
        # signed by a client configured with that endpoint, though the service itself talks to another.
        self.presigner = presigner or client

    async def download(
        self, where: S3Location, dest: Path, *, max_bytes: int | None = None, on_progress: Progress | None = None
    ) -> tuple[int, str]:
        """Stream the object into `dest` (through a temp name), hashing as it streams; returns (size, sha256)."""
        try:
            response = await self.client.get_object(Bucket=where.bucket, Key=where.key)
        except ClientError as exc:
            raise _object_error(exc, where) from exc
        length = int(response.get("ContentLength") or 0)
        if max_bytes is not None and length > max_bytes:
            response["Body"].close()
            raise ObjectError("input_too_large", f"The source is {length} bytes; at most {max_bytes} are accepted.")

        async def chunks() -> AsyncGenerator[bytes, None]:
            async with _body(response) as body:
                while chunk := await body.read(CHUNK):
                    yield chunk

        return await save_stream(
            chunks(),
            dest,
            max_bytes=max_bytes,
            too_large=f"The source is over {max_bytes} bytes.",
            total=length,
            on_progress=on_progress,
        )

    async def upload(self, where: S3Location, src: Path, *, content_type: str = "video/mp4") -> str:
        """Upload a file: one PUT when small, else a multipart upload aborted on any failure (no half object).
        Returns the object's version, as `version` names it.

        A worker killed mid-upload cannot abort its multipart upload; the next upload to the same key, or its
        deletion, does, so the parts it stored are not kept (and billed) forever.
        """
        await self._abort_leftovers(where)
        total = src.stat().st_size
        if total <= PART:
            body = await asyncio.to_thread(src.read_bytes)
            put = await self.client.put_object(Bucket=where.bucket, Key=where.key, Body=body, ContentType=content_type)
            return object_key(put["ETag"], total)
        started = await self.client.create_multipart_upload(
            Bucket=where.bucket, Key=where.key, ContentType=content_type
        )
        upload_id = started["UploadId"]
        try:
            parts: list[CompletedPartTypeDef] = []
            for number, offset in enumerate(range(0, total, PART), start=1):
                chunk = await asyncio.to_thread(_read, src, offset, PART)
                done = await self.client.upload_part(
                    Bucket=where.bucket, Key=where.key, UploadId=upload_id, PartNumber=number, Body=chunk
                )
                parts.append({"PartNumber": number, "ETag": done["ETag"]})
            completed = await self.client.complete_multipart_upload(
                Bucket=where.bucket, Key=where.key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            abort = self.client.abort_multipart_upload(Bucket=where.bucket, Key=where.key, UploadId=upload_id)
            await asyncio.shield(abort)
            raise
        return object_key(completed["ETag"], total)

    async def _abort_leftovers(self, where: S3Location) -> None:
        listed = await self.client.list_multipart_uploads(Bucket=where.bucket, Prefix=where.key)
        for upload in listed.get("Uploads", []):
            if upload.get("Key") == where.key and "UploadId" in upload:
                key, upload_id = where.key, upload["UploadId"]
                await self.client.abort_multipart_upload(Bucket=where.bucket, Key=key, UploadId=upload_id)

    async def copy(self, src: S3Location, dest: S3Location, *, part: int = COPY_PART) -> bool:
        """Copy an object inside the store (one request up to `part` bytes, else parts of it); False when `src` is
        gone. A copy cut off leaves a multipart upload that the next upload to `dest`, or its deletion, aborts."""
        try:
            head = await self.client.head_object(Bucket=src.bucket, Key=src.key)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return False
            raise
        source: CopySourceTypeDef = {"Bucket": src.bucket, "Key": src.key}
        total = int(head["ContentLength"])
        if total <= part:
            await self.client.copy_object(Bucket=dest.bucket, Key=dest.key, CopySource=source)
            return True
        await self._abort_leftovers(dest)
        started = await self.client.create_multipart_upload(Bucket=dest.bucket, Key=dest.key)
        upload_id = started["UploadId"]
        try:
            parts: list[CompletedPartTypeDef] = []
            for number, offset in enumerate(range(0, total, part), start=1):
                last = min(offset + part, total) - 1
                done = await self.client.upload_part_copy(
                    Bucket=dest.bucket,
                    Key=dest.key,
                    UploadId=upload_id,
                    PartNumber=number,
                    CopySource=source,
                    CopySourceRange=f"bytes={offset}-{last}",
                )
                parts.append({"PartNumber": number, "ETag": done["CopyPartResult"]["ETag"]})
            await self.client.complete_multipart_upload(
                Bucket=dest.bucket, Key=dest.key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            abort = self.client.abort_multipart_upload(Bucket=dest.bucket, Key=dest.key, UploadId=upload_id)
            await asyncio.shield(abort)
            raise
        return True

    async def read(self, where: S3Location) -> bytes | None:
        """A small object's bytes; None when there is none."""
        try:
            response = await self.client.get_object(Bucket=where.bucket, Key=where.key)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise
        async with _body(response) as body:
            data: bytes = await body.read()
        return data

    async def exists(self, where: S3Location) -> bool:
        """True when the object is there."""
        return await self.version(where) is not None

    async def version(self, where: S3Location) -> str | None:
        """The object's name in an ObjectCache (its ETag and size); None when there is no object."""
        try:
            head = await self.client.head_object(Bucket=where.bucket, Key=where.key)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise
        return object_key(head["ETag"], head["ContentLength"])

    async def presign(self, where: S3Location, *, seconds: int, filename: str) -> str:
        """A GET URL for the object, valid `seconds`, that downloads it under `filename`."""
        return await self.presigner.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": where.bucket,
                "Key": where.key,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=seconds,
        )

    async def delete(self, where: S3Location) -> None:
        """Delete the object and any upload of it left half-done (no error when there is none)."""
        await self._abort_leftovers(where)
        await self.client.delete_object(Bucket=where.bucket, Key=where.key)


class S3Store:
    """Reels as `s3://bucket/prefix/reels/<job id>.mp4`; downloads are redirects to fresh presigned URLs.

    `root`: the store's bucket and key prefix; `presign_seconds`: how long a download URL lives. The
    pipeline writes the reel into the job's temp dir; publishing uploads it under the job's one key.
    """

    shares_disk = False

    def __init__(
        self, objects: S3Objects, root: S3Location, *, presign_seconds: int, cache: ObjectCache | None = None
    ) -> None:
        self.objects = objects
        self.root = S3Location(root.bucket, root.key.strip("/") + "/" if root.key.strip("/") else "")
        self.presign_seconds = presign_seconds
        self.cache = cache if cache is not None and cache.enabled else None

    def reel_location(self, job_id: str, what: Output = "reel") -> S3Location:
        """The key of the job's reel or thumbnail: the one place that builds it."""
        return S3Location(self.root.bucket, f"{self.root.key}reels/{job_id}{SUFFIX[what]}")

    def reel_target(self, job_id: str, work_dir: Path) -> Path:
        return work_dir / "reel.mp4"

    def discard_partial(self, job_id: str) -> None:
        """Nothing to do here: the next upload of the job's reel (or its deletion) aborts a multipart upload a
        killed attempt left, and the reel's temp file lives in the job's dir."""

    async def publish(self, job_id: str, what: Output, path: Path) -> None:
        version = await self.objects.upload(self.reel_location(job_id, what), path, content_type=_TYPES[what])
        if what == "source" and self.cache is not None:  # the Studio's first edit of the job finds it here
            await asyncio.to_thread(self.cache.keep, version, path)

    async def share(self, job_id: str, what: Output, from_job: str) -> bool:
        return await self.objects.copy(self.reel_location(from_job, what), self.reel_location(job_id, what))

    async def read(self, job_id: str, what: Output) -> bytes | None:
        return await self.objects.read(self.reel_location(job_id, what))

    async def stage_output(self, job_id: str, what: Output, job_dir: Path) -> Path | None:
        """Download the job's file into `job_dir`; a source from the cache when it holds the same object."""
        dest = job_dir / f"base{SUFFIX[what]}"
        if dest.is_file():  # staged completely by an earlier attempt on this machine
            return dest
        job_dir.mkdir(parents=True, exist_ok=True)
        where, cache = self.reel_location(job_id, what), self.cache if what == "source" else None
        key = await self._version(where) if cache is not None else None
        if cache is not None and key is not None and await asyncio.to_thread(cache.link_out, key, dest):
            return dest
        try:
            await self.objects.download(where, dest)
        except ObjectError:
            return None
        if cache is not None and key is not None:
            await asyncio.to_thread(cache.keep, key, dest)
        return dest

    async def _version(self, where: S3Location) -> str | None:
        # The cache's name for the object; on any refusal, None: the download then says what is wrong, as it would
        # with no cache.
        try:
            return await self.objects.version(where)
        except ClientError:
            return None

    def upload_location(self, upload_id: str) -> S3Location:
        """An upload's key."""
        return S3Location(self.root.bucket, f"{self.root.key}uploads/{upload_id}")

    async def put_upload(self, upload_id: str, src: Path) -> None:
        await self.objects.upload(self.upload_location(upload_id), src, content_type="application/octet-stream")
        src.unlink(missing_ok=True)

    async def stage_upload(
        self, upload_id: str, job_dir: Path, *, on_progress: Progress | None = None
    ) -> tuple[Path, str | None] | None:
        dest = job_dir / "source"
        if dest.is_file():  # staged completely by an earlier attempt on this machine
            return dest, None
        job_dir.mkdir(parents=True, exist_ok=True)
        try:
            _, digest = await self.objects.download(self.upload_location(upload_id), dest, on_progress=on_progress)
        except ObjectError:
            return None
        return dest, digest

    async def delete_upload(self, upload_id: str) -> None:
        await self.objects.delete(self.upload_location(upload_id))

    async def download(self, job_id: str, what: Output, *, filename: str) -> ReelDownload | None:
        where = self.reel_location(job_id, what)
        if not await self.objects.exists(where):
            return None
        return ReelDownload(url=await self.objects.presign(where, seconds=self.presign_seconds, filename=filename))

    async def delete_outputs(self, job_id: str) -> None:
        for what in SUFFIX:
            await self.objects.delete(self.reel_location(job_id, what))

    def owns(self, location: S3Location) -> bool:
        return location.within(self.root)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _object_error(exc: ClientError, where: S3Location) -> Exception:
    code = _code(exc)
    if code in _MISSING or code == "NoSuchBucket":
        return ObjectError("input_not_found", f"No object s3://{where.bucket}/{where.key}.")
    if code in _FORBIDDEN:
        return ObjectError("input_forbidden", f"This server may not read s3://{where.bucket}/{where.key}.")
    return exc

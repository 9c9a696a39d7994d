"""What the Studio reads of a completed job: its analysis, the source's filmstrip, the source itself (with ranges),
each by key or signed URL; and a job `based_on` it that reuses its source and analysis.

One uploaded 20 s source, one automatic job on it, shared by the module's tests.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from app.config import Settings
from app.domain.analysis import JobAnalysis
from app.media.ffmpeg import find_binaries
from app.media.filmstrip import layout_for, write_filmstrip
from tests.conftest import Infra, make_settings, running_service
from tests.support.cache import SourceCache
from tests.support.jobs import wait_final
from tests.support.media import make_source

pytestmark = pytest.mark.xdist_group("studio_api")  # its tests share one rendered job

SECONDS = 20.0
KEY = {"X-API-Key": f"studio-{uuid.uuid4().hex[:8]}"}


@dataclass(frozen=True)
class Studio:
    """The running service, its settings, the uploaded source's bytes and the completed job."""

    client: httpx.AsyncClient
    settings: Settings
    source: bytes
    job: dict[str, Any]


@pytest.fixture(scope="module")
async def studio(infra: Infra, tmp_path_factory: pytest.TempPathFactory, sources: SourceCache) -> AsyncIterator[Studio]:
    settings = make_settings(infra, tmp_path_factory.mktemp("studio"), api_keys=[KEY["X-API-Key"]])
    name = sources.link("studio.mp4", settings.media_root, lambda p: make_source(p, seconds=SECONDS))
    data = (settings.media_root / name).read_bytes()
    async with running_service(settings) as client:
        upload = await client.post("/uploads", content=data, headers=KEY)
        assert upload.status_code == 201, upload.text
        created = await client.post("/jobs", json={"input_upload": upload.json()["upload_id"]}, headers=KEY)
        assert created.status_code == 202, created.text
        client.headers.update(KEY)
        job = await wait_final(client, created.json()["id"], timeout=120)
        del client.headers["X-API-Key"]
        assert job["status"] == "completed", job["error"]
        yield Studio(client, settings, data, job)


async def test_a_completed_job_serves_its_analysis_cacheable_and_by_signed_url(studio: Studio) -> None:
    client, job_id = studio.client, studio.job["id"]
    response = await client.get(f"/jobs/{job_id}/analysis", headers=KEY)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "private, max-age=3600"
    assert response.headers["content-encoding"] == "gzip"  # httpx asks for it, as browsers do
    analysis = JobAnalysis.model_validate_json(response.content)
    assert analysis.job_id == job_id and analysis.analysed
    assert analysis.source.duration == pytest.approx(SECONDS, abs=0.1) and analysis.source.playable
    assert (analysis.source.width, analysis.source.height, analysis.source.has_audio) == (160, 90, True)
    seconds = len(analysis.score)
    assert seconds in (20, 21) and all(0 <= s <= 1 for s in analysis.score)  # the sound may end after 20 s
    assert all(len(values) == seconds for values in analysis.features.model_dump().values())
    assert len(analysis.envelope.db) in (200, 201) and analysis.envelope.step == 0.1
    assert all(db is not None and -60 < db < 0 for db in analysis.envelope.db[5:-5])  # pink noise throughout
    [clip] = analysis.clips  # a 20 s source is its own highlight
    segment = studio.job["result"]["segments"][0]
    assert (clip.start, clip.end, clip.reasons) == (segment["start"], segment["end"], segment["reasons"])
    assert len(response.content) < 20_000  # small: a page loads it at once

    etag = response.headers["etag"]
    again = await client.get(f"/jobs/{job_id}/analysis", headers={**KEY, "If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag and not again.content

    signed = await client.post(f"/jobs/{job_id}/signed-urls", json={"resource": "analysis"}, headers=KEY)
    assert signed.status_code == 200, signed.text
    opened = await client.get(signed.json()["url"])
    assert opened.status_code == 200 and opened.content == response.content
    elsewhere = signed.json()["url"].replace("/analysis?", "/source?")
    assert (await client.get(elsewhere)).json()["code"] == "signed_url_invalid"


async def test_the_filmstrip_is_a_sprite_of_the_source_keyframes_the_analysis_describes(studio: Studio) -> None:
    client, job_id = studio.client, studio.job["id"]
    film = JobAnalysis.model_validate_json(
        (await client.get(f"/jobs/{job_id}/analysis", headers=KEY)).content
    ).filmstrip
    assert film is not None and film.interval == 2.0 and film.count == 10 and film.tile == (160, 90)
    assert film.times == sorted(film.times) and film.times[0] == 0.0 and all(t <= SECONDS for t in film.times)
    signed = await client.post(f"/jobs/{job_id}/signed-urls", json={"resource": "filmstrip"}, headers=KEY)
    response = await client.get(signed.json()["url"])
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    sprite = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert sprite is not None, "not a JPEG"
    rows = -(-film.count // film.columns)
    assert sprite.shape == (rows * film.tile[1], film.columns * film.tile[0], 3)
    assert float(sprite[: film.tile[1], : film.tile[0]].std()) > 10  # testsrc2's picture, not a blank tile


async def test_the_source_plays_with_ranges_and_head_by_signed_url(studio: Studio) -> None:
    client, job_id, size = studio.client, studio.job["id"], len(studio.source)
    signed = await client.post(f"/jobs/{job_id}/signed-urls", json={"resource": "source"}, headers=KEY)
    url = signed.json()["url"]
    whole = await client.get(url)
    assert whole.status_code == 200 and whole.content == studio.source
    assert whole.headers["accept-ranges"] == "bytes" and whole.headers["content-type"] == "video/mp4"
    part = await client.get(url, headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == studio.source[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{size}"
    beyond = await client.get(url, headers={"Range": f"bytes={size + 10}-"})
    assert beyond.status_code == 416
    head = await client.head(f"/jobs/{job_id}/source", headers=KEY)
    assert head.status_code == 200 and int(head.headers["content-length"]) == size and not head.content
    # Published beside the reel as a second name of the upload: no bytes copied.
    published = studio.settings.output_root / f"{job_id}.source"
    upload = next((studio.settings.data_dir / "uploads").iterdir())
    assert published.stat().st_ino == upload.stat().st_ino


async def test_a_job_without_analysis_answers_analysis_not_found(studio: Studio) -> None:
    client = studio.client
    unknown = await client.get(f"/jobs/{uuid.uuid4()}/analysis", headers=KEY)
    assert unknown.status_code == 404 and unknown.json()["code"] == "job_not_found"
    (studio.settings.media_root / "never.mp4").write_bytes(b"not decoded")
    created = await client.post("/jobs", json={"input_path": "never.mp4"}, headers=KEY)
    job_id = created.json()["id"]
    for path in ("analysis", "source"):
        response = await client.get(f"/jobs/{job_id}/{path}", headers=KEY)
        assert response.status_code == 404 and response.json()["code"] == "analysis_not_found", path
    await client.delete(f"/jobs/{job_id}", headers=KEY)
    client.headers.update(KEY)
    await wait_final(client, job_id, timeout=30)
    del client.headers["X-API-Key"]


async def test_a_job_based_on_another_reuses_its_source_and_analysis_and_cuts_the_new_highlights(
    studio: Studio,
) -> None:
    client, base_id = studio.client, studio.job["id"]
    body = {
        "based_on": base_id,
        "highlights": [{"start_time": 3, "end_time": 18}],
        "output": {"snap_edges": True},  # needs the sound and the cuts: the base's whole-source analysis has them
    }
    headers = {**KEY, "Idempotency-Key": f"again-{uuid.uuid4()}"}
    created = await client.post("/jobs", json=body, headers=headers)
    assert created.status_code == 202, created.text
    assert (await client.post("/jobs", json=body, headers=headers)).json()["id"] == created.json()["id"]
    client.headers.update(KEY)
    job = await wait_final(client, created.json()["id"], timeout=60)
    del client.headers["X-API-Key"]
    assert job["status"] == "completed", job["error"]
    assert job["based_on"] == base_id and job["input_upload"] is None
    [segment] = job["result"]["segments"]
    assert (segment["start"], segment["end"]) == (3.0, 18.0)

    events = (await client.get(f"/jobs/{job['id']}/events", headers=KEY)).json()
    assert ("analyze", "reuse") in {(e["stage"], e["event"]) for e in events}  # no decode for its clips
    base = JobAnalysis.model_validate_json((await client.get(f"/jobs/{base_id}/analysis", headers=KEY)).content)
    again = JobAnalysis.model_validate_json((await client.get(f"/jobs/{job['id']}/analysis", headers=KEY)).content)
    assert again.features == base.features and again.score == base.score and again.envelope == base.envelope
    assert [(c.start, c.end) for c in again.clips] == [(3.0, 18.0)]
    # Its source is the base's, published under its own name too (a second hard link): nothing fetched or copied.
    output = studio.settings.output_root
    assert (output / f"{job['id']}.source").stat().st_ino == (output / f"{base_id}.source").stat().st_ino

    # Without `output`, a job based on this one keeps its output options.
    third = await client.post("/jobs", json={"based_on": job["id"], "highlights": body["highlights"]}, headers=KEY)
    assert third.status_code == 202 and third.json()["output"]["snap_edges"] is True, third.text
    await client.delete(f"/jobs/{third.json()['id']}", headers=KEY)
    client.headers.update(KEY)
    await wait_final(client, third.json()["id"], timeout=60)
    del client.headers["X-API-Key"]

    # A job whose files are gone cannot be a base any more.
    assert (await client.delete(f"/jobs/{job['id']}/output", headers=KEY)).status_code == 204
    expired = await client.post("/jobs", json={**body, "based_on": job["id"]}, headers=KEY)
    assert expired.status_code == 422 and expired.json()["code"] == "base_job_expired"


async def test_based_on_refuses_an_unknown_or_unfinished_job_and_a_second_source(studio: Studio) -> None:
    client = studio.client
    highlights = [{"start_time": 1, "end_time": 16}]
    unknown = await client.post("/jobs", json={"based_on": str(uuid.uuid4()), "highlights": highlights}, headers=KEY)
    assert unknown.status_code == 404 and unknown.json()["code"] == "base_job_not_found"
    (studio.settings.media_root / "pending.mp4").write_bytes(b"never decoded")
    pending = (await client.post("/jobs", json={"input_path": "pending.mp4"}, headers=KEY)).json()["id"]
    await client.delete(f"/jobs/{pending}", headers=KEY)
    unfinished = await client.post("/jobs", json={"based_on": pending, "highlights": highlights}, headers=KEY)
    assert unfinished.status_code == 409 and unfinished.json()["code"] == "base_job_not_completed"
    both = {"based_on": studio.job["id"], "input_path": "pending.mp4", "highlights": highlights}
    two = await client.post("/jobs", json=both, headers=KEY)
    assert two.status_code == 422 and two.json()["code"] == "invalid_request"


def read_picture(path: Path) -> np.ndarray:
    picture = cv2.imread(str(path))
    assert picture is not None, f"cannot read {path}"
    return picture


async def test_an_intra_only_source_is_seeked_tile_by_tile_to_the_sprite_a_keyframe_decode_makes(
    tmp_path: Path,
) -> None:
    mjpeg = make_source(
        tmp_path / "cam.mov", seconds=9, levels_lufs=None, pix_fmt="yuvj420p", encoder=("-c:v", "mjpeg", "-q:v", "5")
    )
    layout, ffmpeg = layout_for(9.0, 16 / 9), find_binaries().ffmpeg
    decoded = await write_filmstrip(ffmpeg, mjpeg, tmp_path / "decoded.jpg", layout)
    seeked = await write_filmstrip(ffmpeg, mjpeg, tmp_path / "seeked.jpg", layout, intra_only=True)
    assert seeked.times == decoded.times == [0.0, 2.0, 4.0, 6.0, 8.0]  # every frame a keyframe: each tile on time
    a, b = (read_picture(s.path).astype(np.int16) for s in (decoded, seeked))
    assert a.shape == b.shape == (90, 5 * 160, 3)
    tiles_a, tiles_b = ([x[:, i * 160 : (i + 1) * 160] for i in range(5)] for x in (a, b))
    assert all(float(t.std()) > 10 for t in tiles_b)  # no blank tile
    for i, tile in enumerate(tiles_b):  # each tile the frame of its time: nearest the other way's same tile
        distances = [float(np.abs(tile - other).mean()) for other in tiles_a]
        assert int(np.argmin(distances)) == i, distances

"""GET /jobs/{id}/output on the local store: ranges, ETags, a download name, and only for the job's own key."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.conftest import Infra, make_settings, running_service
from tests.support.jobs import wait_final
from tests.support.media import make_source

RUN = uuid.uuid4().hex[:8]
ALICE, BOB = f"alice-{RUN}", f"bob-{RUN}"


async def test_reel_is_served_with_ranges_etag_and_only_to_its_key(infra: Infra, tmp_path: Path) -> None:
    settings = make_settings(infra, tmp_path, api_keys=[ALICE, BOB], public_base_url="https://reels.example/")
    make_source(settings.media_root / "small.mp4", seconds=20)
    alice, bob = {"X-API-Key": ALICE}, {"X-API-Key": BOB}
    async with running_service(settings) as client:
        body = {"input_path": "small.mp4", "highlights": [{"start_time": 2, "end_time": 17}]}
        job_id = (await client.post("/jobs", json=body, headers=alice)).json()["id"]
        early = await client.get(f"/jobs/{job_id}/output", headers=alice)
        assert early.status_code in (409, 200)  # 409 until the job completes
        client.headers.update(alice)
        done = await wait_final(client, job_id)
        assert done["status"] == "completed", done["error"]
        reel = Path(done["result"]["output_path"]).read_bytes()  # the local store's clients share its disk
        assert done["result"]["output_url"] == f"https://reels.example/jobs/{job_id}/output"

        whole = await client.get(f"/jobs/{job_id}/output")
        assert whole.status_code == 200 and whole.content == reel
        assert whole.headers["content-type"] == "video/mp4"
        assert f'filename="{job_id}.mp4"' in whole.headers["content-disposition"]
        etag = whole.headers["etag"]

        part = await client.get(f"/jobs/{job_id}/output", headers={"Range": "bytes=0-999"})
        assert part.status_code == 206
        assert part.content == reel[:1000] and len(part.content) == 1000
        assert part.headers["content-range"] == f"bytes 0-999/{len(reel)}"

        cached = await client.get(f"/jobs/{job_id}/output", headers={"If-None-Match": etag})
        assert cached.status_code == 304 and cached.content == b""
        changed = await client.get(f"/jobs/{job_id}/output", headers={"If-None-Match": '"other"'})
        assert changed.status_code == 200

        poster = await client.get(f"/jobs/{job_id}/thumbnail")
        assert poster.status_code == 200 and poster.headers["content-type"] == "image/jpeg"
        assert poster.content[:3] == b"\xff\xd8\xff" and len(poster.content) > 1000  # a real JPEG
        assert done["result"]["thumbnail_url"] == f"https://reels.example/jobs/{job_id}/thumbnail"
        assert (await client.get(f"/jobs/{job_id}/thumbnail", headers=bob)).status_code == 404

        other = await client.get(f"/jobs/{job_id}/output", headers=bob)
        assert other.status_code == 404 and other.json()["code"] == "job_not_found"
        assert str(tmp_path) not in other.text

        Path(done["result"]["output_path"]).unlink()
        gone = await client.get(f"/jobs/{job_id}/output")
        assert gone.status_code == 404 and gone.json()["code"] == "output_not_found"
        assert str(tmp_path) not in gone.text

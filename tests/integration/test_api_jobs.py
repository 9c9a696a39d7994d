"""The job API against a real service: submit, poll, page, cancel, and every 4xx a client can earn."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.config import Settings
from tests.support.jobs import QUICK_ENCODE, submit, wait_final
from tests.support.media import make_source


@pytest.fixture
def small_source(settings: Settings) -> str:
    make_source(settings.media_root / "small.mp4", seconds=20)
    return "small.mp4"


async def test_submitted_job_completes_with_result_figures(client: httpx.AsyncClient, small_source: str) -> None:
    job = await submit(client, small_source, highlights=[{"start_time": 2, "end_time": 17, "score": 0.8}])
    assert job["status"] == "queued" and job["attempts"] == 0
    done = await wait_final(client, job["id"])
    assert done["status"] == "completed", done["error"]
    result = done["result"]
    assert result["color_space"] == "bt709"
    assert result["segments_processed"] == 1
    assert result["segments"][0]["start"] == 2.0 and result["segments"][0]["end"] == 17.0
    assert abs(result["duration"] - 15.0) <= 0.04
    assert abs(result["audio_loudness"] - -16.0) <= 0.5
    assert Path(result["output_path"]).is_file()
    assert done["progress"] == 1.0 and done["attempts"] == 1 and done["error"] is None


async def test_missing_file_is_rejected_at_submit(client: httpx.AsyncClient) -> None:
    response = await client.post("/jobs", json={"input_path": "nope.mp4"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "input_not_found"
    assert "nope.mp4" in response.json()["detail"]


async def test_path_outside_media_root_is_rejected(
    client: httpx.AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.mp4"
    outside.write_bytes(b"x")
    (settings.media_root / "link.mp4").symlink_to(outside)
    for path in ("../secret.mp4", str(outside), "link.mp4"):
        response = await client.post("/jobs", json={"input_path": path})
        assert response.status_code == 422, path
        assert response.json()["code"] == "input_outside_media_root", path


async def test_end_before_start_is_a_422_that_names_the_field(client: httpx.AsyncClient, small_source: str) -> None:
    response = await client.post(
        "/jobs", json={"input_path": small_source, "highlights": [{"start_time": 10, "end_time": 5}]}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_request"
    assert "end_time (5.0) must be after start_time (10.0)" in body["detail"]
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"output": {"crf": 99}}, "output.crf"),
        ({"output": {"preset": "placebo"}}, "output.preset"),
        ({"output": {"aspect_ratio": "2:1"}}, "output.aspect_ratio"),
        ({"highlights": [{"start_time": -1, "end_time": 5}]}, "highlights.0.start_time"),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_bad_fields_are_named_in_the_problem(
    client: httpx.AsyncClient, small_source: str, body: dict[str, object], field: str
) -> None:
    response = await client.post("/jobs", json={"input_path": small_source, **body})
    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_malformed_json_is_a_problem_not_a_500(client: httpx.AsyncClient) -> None:
    response = await client.post("/jobs", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_unknown_job_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/jobs/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert response.json()["code"] == "job_not_found"


async def test_list_pages_newest_first_and_filters(client: httpx.AsyncClient, small_source: str) -> None:
    ids = [(await submit(client, small_source, output=QUICK_ENCODE))["id"] for _ in range(3)]
    first = (await client.get("/jobs", params={"limit": 2})).json()
    assert [j["id"] for j in first["items"]][:2] == ids[::-1][:2]
    second = (await client.get("/jobs", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert ids[0] in [j["id"] for j in second["items"]]
    completed = (await client.get("/jobs", params={"status": "completed"})).json()
    assert all(j["status"] == "completed" for j in completed["items"])
    bad = await client.get("/jobs", params={"cursor": "garbage"})
    assert bad.status_code == 422


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json()["status"] == "ok"
    ready = (await client.get("/readyz")).json()
    assert ready["checks"] == {"postgres": "ok", "redis": "ok"}


async def test_metrics_expose_the_contract_names(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    text = (await client.get("/metrics")).text
    for name in ("video_processing_queue_depth", "video_processing_errors_total", "http_requests_total"):
        assert name in text


async def test_openapi_documents_the_job_routes(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert {"/jobs", "/jobs/{job_id}", "/healthz", "/readyz"} <= set(spec["paths"])


async def test_events_show_the_timeline_of_a_job(client: httpx.AsyncClient, small_source: str) -> None:
    job = await submit(client, small_source, output=QUICK_ENCODE)
    await wait_final(client, job["id"])
    events = (await client.get(f"/jobs/{job['id']}/events")).json()
    stages = [(e["stage"], e["event"]) for e in events]
    assert stages[:2] == [("fetch", "start"), ("fetch", "end")] and stages[-1] == ("verify", "end")
    assert ("segment:0", "end") in stages
    assert all(e["seconds"] > 0 for e in events if e["event"] == "end")
    assert (await client.get("/jobs/00000000-0000-0000-0000-000000000000/events")).status_code == 404

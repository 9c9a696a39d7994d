"""The Studio page in a real browser: Debian's Chromium, driven by Playwright over its protocol (nothing downloaded).

One service (API key, runner) on a free port and one 30 s source (spoken sentences with pauses, a shot cut at
14 s) drive the flow a person would take: sign in, cancel an upload under way, upload, watch the job complete,
read the clips and their reasons on the timeline, play the reel, drag an edge and nudge it by keyboard, render
again at 9:16; the second job asks for the dragged clips and links back. A wrong key shows the problem; a source
the browser cannot play is previewed from its filmstrip; an open server asks for no key, and a queued job is
filtered and cancelled from the list and its page. axe finds no serious or critical violation on any page seen.
With STUDIO_SCREENSHOTS=<dir> the edit's page is also saved there at 1280 px and at a phone's 375 px (the
README's `docs/` pictures).
"""

from __future__ import annotations

import contextlib
import os
import random
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api.app import create_app
from tests.conftest import Infra
from tests.support.browser import Browser, chromium, database_of_its_own, serving
from tests.support.media import AAC, ffmpeg

KEY = f"studio-{uuid.uuid4().hex[:8]}"
SPEECH = Path(__file__).parents[1] / "fixtures" / "speech_pauses.flac"
CUT = 14.0  # the source's one shot cut
# The mean of a canvas's pixels (R+G+B) is above a dark frame's: the filmstrip's tile was drawn on it.
PAINTED = """(canvas) => {
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let sum = 0;
    for (let i = 0; i < data.length; i += 4) sum += data[i] + data[i + 1] + data[i + 2];
    return sum / (data.length / 4) > 100;
}"""
UNTHROTTLED = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
# Plays the reel (muted, as autoplay allows) until half a second has passed in it, or 10 s in the page.
PLAY_HALF_A_SECOND = """async () => {
    const video = document.querySelector('#reel');
    video.muted = true;
    await video.play();
    const start = performance.now();
    while (video.currentTime < 0.5 && performance.now() - start < 10000) {
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
    video.pause();
    return {time: video.currentTime, error: video.error && video.error.code, duration: video.duration};
}"""

pytestmark = [
    pytest.mark.skipif(
        chromium() is None,
        reason="no Chromium on PATH: the Studio's browser tests need Debian's `chromium` (apt-get install chromium)",
    ),
    pytest.mark.xdist_group("studio_browser"),  # its tests share one service, one database and one browser
]


def _talk(path: Path) -> Path:
    """30 s at 320x180: the fixture's sentences twice over two test patterns, cut from one to the other at 14 s."""
    graph = (
        f"testsrc2=size=320x180:rate=25:duration={CUT}[a];testsrc=size=320x180:rate=25:duration={30 - CUT}[b];"
        "[a][b]concat=n=2:v=1:a=0,format=yuv420p[v];[0:a]aresample=48000,aformat=channel_layouts=stereo[s]"
    )
    ffmpeg("-stream_loop", "1", "-i", str(SPEECH), "-filter_complex", graph,
           "-map", "[v]", "-map", "[s]", "-c:v", "libx264", "-preset", "ultrafast", "-g", "50", *AAC,
           "-t", "30", str(path))  # fmt: skip
    return path


@pytest.fixture(scope="module")
def studio(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The service's base URL, and the source to upload."""
    root = tmp_path_factory.mktemp("studio")
    source = _talk(root / "talk.mp4")
    # A queue of its own: no job another test left queued in the session's database delays these.
    with database_of_its_own(infra, root, api_keys=[KEY]) as settings, serving(create_app(settings)) as url:
        yield url, source


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser.launch() as opened:
        yield opened


_HTTP = httpx.Client(headers={"Authorization": f"Bearer {KEY}"}, timeout=30)  # one client (and TLS context) for all


def _api(url: str, method: str, path: str, **kwargs: Any) -> Any:
    response = _HTTP.request(method, url + path, **kwargs)
    assert response.status_code < 300, response.text
    return response.json()


def test_a_wrong_key_shows_the_problem_not_a_blank_page(studio: tuple[str, Path], browser: Browser) -> None:
    url, _ = studio
    with browser.page(url) as page:
        page.goto(f"{url}/studio")
        page.get_by_label("API key").fill("not-a-key")
        page.get_by_role("button", name="Sign in").click()
        alert = page.get_by_role("alert")
        alert.wait_for()
        assert "Unauthorized" in alert.inner_text() and "API key" in alert.inner_text()
        assert browser.serious_violations(page) == []
        # A job's address opened with a refused key in the tab: the same problem, and the sign-in form.
        page.evaluate("sessionStorage.setItem('smartedit.apiKey', 'still-not-a-key')")
        page.goto(f"{url}/studio/jobs/{uuid.uuid4()}")
        page.get_by_role("alert").wait_for()
        assert "refused" in page.get_by_role("alert").inner_text()


def test_upload_watch_play_drag_and_render_again(studio: tuple[str, Path], browser: Browser) -> None:
    url, source = studio
    with browser.page(url) as page:
        page.goto(f"{url}/studio")
        page.get_by_label("API key").fill(KEY)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("heading", name="New reel").wait_for()
        assert browser.serious_violations(page) == []

        # An upload (2 MB at 200 kB/s) cancelled once its bar moved: the problem said, no job made.
        slow = page.context.new_cdp_session(page)
        slow.send("Network.enable")
        slow.send("Network.emulateNetworkConditions", {**UNTHROTTLED, "uploadThroughput": 200_000})
        page.locator("#file").set_input_files(
            {"name": "noise.mp4", "mimeType": "video/mp4", "buffer": random.randbytes(2_000_000)}
        )
        page.get_by_role("button", name="Make the reel").click()
        page.wait_for_function("() => document.querySelector('#upload-progress').value > 0.02")
        page.get_by_role("button", name="Cancel upload").click()
        assert "Upload cancelled" in page.get_by_role("alert").inner_text()
        assert _api(url, "GET", "/jobs")["items"] == []
        slow.send("Network.emulateNetworkConditions", UNTHROTTLED)

        page.locator("#file").set_input_files(str(source))
        page.get_by_label("Reel at most (s)").fill("20")  # one clip of 15-20 s: room to drag either edge
        page.get_by_role("button", name="Make the reel").click()
        page.wait_for_url(f"{url}/studio/jobs/*")
        first = page.url.rsplit("/", 1)[1]
        page.locator("#job-status", has_text="completed").wait_for(timeout=120_000)
        job = _api(url, "GET", f"/jobs/{first}")
        assert job["status"] == "completed", job["error"]

        # The clips on the timeline, each with the reasons it was picked for.
        clips = page.locator("#clip-list li")
        clips.first.wait_for()
        segments = job["result"]["segments"]
        assert clips.count() == len(segments) == page.locator("svg .clip").count()
        for item, segment in zip(clips.all(), segments, strict=True):
            shown = item.locator(".reason").all_inner_texts()
            assert shown == segment["reasons"] and shown, (shown, segment)

        # The reel plays: no media error, and its time moves on.
        played = page.evaluate(PLAY_HALF_A_SECOND)
        assert played["error"] is None and played["time"] >= 0.5, played
        assert abs(played["duration"] - job["result"]["duration"]) < 0.5, played
        assert browser.serious_violations(page) == []

        # Space plays the reel and K pauses it, wherever the focus is but a form field.
        page.locator("#main").focus()
        page.keyboard.press(" ")
        page.wait_for_function("() => !document.querySelector('#reel').paused")
        page.keyboard.press("k")
        assert page.evaluate("document.querySelector('#reel').paused")

        # Drag the first clip's end 40 px (inwards when the clip has room, else outwards); the clip stays 15-60 s.
        end = page.locator('svg .handle[data-clip="0"][data-edge="end"]')
        start = float(page.locator('svg .handle[data-clip="0"][data-edge="start"]').get_attribute("aria-valuenow") or 0)
        before = float(end.get_attribute("aria-valuenow") or 0)
        end.scroll_into_view_if_needed()
        box = end.bounding_box()
        assert box is not None
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + (-40 if before - start > 17 else 40), y, steps=5)
        page.mouse.up()
        dragged = float(end.get_attribute("aria-valuenow") or 0)
        assert dragged != before and 15 <= dragged - start <= 60, (start, before, dragged)
        # The dragged edge is selected: Shift+arrow moves it a second, an arrow one frame (1/25 s) back.
        sign = -1 if dragged - start >= 16.1 else 1
        page.keyboard.press("Shift+ArrowLeft" if sign < 0 else "Shift+ArrowRight")
        page.keyboard.press("ArrowRight" if sign < 0 else "ArrowLeft")
        nudged = float(end.get_attribute("aria-valuenow") or 0)
        assert nudged == pytest.approx(dragged + sign * (1 - 0.04), abs=0.002), (dragged, nudged)
        wanted = [
            (float(h.get_attribute("aria-valuenow") or 0), float(e.get_attribute("aria-valuenow") or 0))
            for h, e in zip(
                page.locator('svg .handle[data-edge="start"]').all(),
                page.locator('svg .handle[data-edge="end"]').all(),
                strict=True,
            )
        ]

        page.get_by_label("Aspect", exact=True).select_option("9:16")
        page.get_by_role("button", name="Render", exact=True).click()
        page.wait_for_url(lambda address: "/studio/jobs/" in address and not address.endswith(first))
        second = page.url.rsplit("/", 1)[1]
        page.locator("#based-on a").wait_for()
        assert page.locator("#based-on a").get_attribute("href") == f"/studio/jobs/{first}"
        again = _api(url, "GET", f"/jobs/{second}")
        assert [(h["start_time"], h["end_time"]) for h in again["highlights"]] == wanted
        assert again["based_on"] == first and again["output"]["aspect_ratio"] == "9:16"
        page.locator("#job-status", has_text="completed").wait_for(timeout=60_000)
        # The edit's page: its reel, and its clip in the source preview with the 9:16 crop window over it.
        page.locator("#clip-list li").first.wait_for()
        page.wait_for_function("() => document.querySelector('.preview video').readyState >= 2")
        assert browser.serious_violations(page) == []
        _screenshots(page)


def _screenshots(page: Any) -> None:
    """A job's page at 1280 px and at 375 px into $STUDIO_SCREENSHOTS; the phone's width never scrolls sideways."""
    directory = os.environ.get("STUDIO_SCREENSHOTS")
    for width, height in ((1280, 900), (375, 800)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(200)  # the timeline redraws at the new width (a ResizeObserver)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"at {width} px the page scrolls {overflow} px sideways"
        if directory:
            page.screenshot(path=str(Path(directory) / f"studio-job-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_a_source_the_browser_cannot_play_is_previewed_from_its_filmstrip(
    studio: tuple[str, Path], browser: Browser
) -> None:
    url, source = studio
    mkv = source.with_suffix(".mkv")  # Matroska: not a container the source route offers a browser
    ffmpeg("-i", str(source), "-c", "copy", str(mkv))
    upload = _api(url, "POST", "/uploads", content=mkv.read_bytes())
    body = {"input_upload": upload["upload_id"], "highlights": [{"start_time": 3, "end_time": 19}]}
    job = _api(url, "POST", "/jobs", json={**body, "output": {"aspect_ratio": "1:1"}})
    with browser.page(url) as page:
        page.clock.install()  # the page's time runs on as it does, until the test moves it on
        page.goto(f"{url}/studio")
        page.evaluate("(key) => sessionStorage.setItem('smartedit.apiKey', key)", KEY)
        page.goto(f"{url}/studio/jobs/{job['id']}")
        page.locator("#job-status", has_text="completed").wait_for(timeout=60_000)
        page.get_by_role("button", name="Play in source clip 1").click()
        picture = page.get_by_role("img", name="Source preview from the filmstrip")
        picture.wait_for()
        page.wait_for_function(PAINTED, arg=picture.element_handle())
        playhead = page.locator("svg > line")
        first = float(playhead.get_attribute("x1") or 0)
        page.wait_for_function("(x) => Number(document.querySelector('svg > line').getAttribute('x1')) > x", arg=first)
        assert browser.serious_violations(page) == []

        # 13.5 minutes on, the signed URLs (15 min) of the reel and its poster frame were minted again.
        with page.expect_request(_minting("output")), page.expect_request(_minting("thumbnail")):
            page.clock.fast_forward("13:30")
        page.wait_for_function("() => document.querySelector('#reel').readyState >= 1")
        assert page.evaluate("() => document.querySelector('#reel').error") is None


def _minting(resource: str) -> Callable[[Any], bool]:
    """Whether a request is the page asking for a signed URL of `resource`."""
    return lambda request: request.method == "POST" and f'"resource":"{resource}"' in (request.post_data or "")


def test_an_open_server_asks_for_no_key_and_a_queued_job_is_listed_filtered_and_cancelled(
    infra: Infra, tmp_path: Path, browser: Browser
) -> None:
    # No API_KEYS: every caller is the one anonymous client. A database of its own: the other tests' runners
    # would claim its job, which must stay queued.
    with contextlib.ExitStack() as stack:
        settings = stack.enter_context(database_of_its_own(infra, tmp_path))
        (settings.media_root / "later.mp4").write_bytes(b"never read: no worker runs here")
        url = stack.enter_context(serving(create_app(settings, run_worker=False)))
        page = stack.enter_context(browser.page(url))
        job = httpx.post(f"{url}/jobs", json={"input_path": "later.mp4"}, timeout=30).json()
        page.goto(f"{url}/studio")
        page.get_by_role("heading", name="New reel").wait_for()
        assert page.get_by_label("API key").count() == 0 and page.locator("#sign-out").is_hidden()
        row = page.locator(f'li[data-job="{job["id"]}"]')
        row.locator(".badge", has_text="queued").wait_for()
        page.get_by_label("Completed", exact=True).check()
        row.wait_for(state="detached")
        page.get_by_label("Queued", exact=True).check()
        row.wait_for()

        row.get_by_role("link").click()
        page.get_by_role("progressbar", name="Progress of the job").wait_for()
        assert browser.serious_violations(page) == []
        page.get_by_role("button", name="Cancel this job").click()
        page.get_by_text("This job was cancelled").wait_for()  # the stream's last event, the job as it ended
        assert page.locator("#job-status").inner_text() == "cancelled"

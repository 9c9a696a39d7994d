"""One decode through named pipes: real ffmpeg on generated media, consumers as plain callables."""

from __future__ import annotations

import asyncio
import json
import math
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import TypedDict

import cv2
import numpy as np
import numpy.typing as npt
import psutil
import pytest

from app.media.decode import SAMPLE_RATE, AudioConsumer, DecodeOptions, FrameConsumer, PictureConsumer, decode
from app.media.ffmpeg import FFmpegError, find_binaries
from app.media.probe import MediaInfo, probe
from tests.support.media import ffmpeg, make_source
from tests.support.processes import ffmpeg_children_of

AAC_FRAME_AT_16K = 1024 * SAMPLE_RATE // 48000 + 1


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("decode-media")


@pytest.fixture(scope="module")
def ntsc(media: Path) -> Path:
    """4 s at 29.97 fps, 640x360 (scaled down to 320x180), with audio."""
    return make_source(media / "ntsc.mp4", seconds=4, size="640x360", rate="30000/1001")


@pytest.fixture(scope="module")
def long_small(media: Path) -> Path:
    """45 s of small frames: more PCM (1.4 MB) than a pipe buffer holds, so a stalled reader would deadlock."""
    return make_source(media / "long.mp4", seconds=45, size="160x90", rate="10")


@pytest.fixture
def work(tmp_path: Path) -> Path:
    directory = tmp_path / "attempt"
    directory.mkdir()
    return directory


async def info_of(path: Path) -> MediaInfo:
    return await probe(find_binaries().ffprobe, path)


def probed_frame_count(path: Path) -> int:
    out = subprocess.run(
        [find_binaries().ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=nb_read_frames", "-of", "json", str(path)],
        capture_output=True, check=True,
    ).stdout
    return int(json.loads(out)["streams"][0]["nb_read_frames"])


def assert_nothing_left(work: Path) -> None:
    """No ffmpeg of this decode survives and no FIFO stays in the work dir."""
    deadline = time.monotonic() + 5
    while ffmpeg_children_of(work) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ffmpeg_children_of(work) == []
    assert [c for c in psutil.Process().children(recursive=True) if c.name() == "ffmpeg"] == []
    assert list(work.iterdir()) == []


class Consumers(TypedDict, total=False):
    """The consumer arguments of `decode`, for a test that chooses them at run time."""

    on_frame: FrameConsumer
    on_audio: AudioConsumer
    on_picture: PictureConsumer
    on_channels: AudioConsumer


class Collect:
    """Frames, pictures and PCM as they arrive, with their times."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, npt.NDArray[np.uint8]]] = []
        self.pictures: list[tuple[float, npt.NDArray[np.uint8]]] = []
        self.pcm: list[tuple[float, npt.NDArray[np.int16]]] = []
        self.channels: list[tuple[float, npt.NDArray[np.int16]]] = []

    def frame(self, t: float, frame: npt.NDArray[np.uint8]) -> None:
        self.frames.append((t, frame))

    def picture(self, t: float, picture: npt.NDArray[np.uint8]) -> None:
        self.pictures.append((t, picture))

    def stereo(self, t: float, chunk: npt.NDArray[np.int16]) -> None:
        self.channels.append((t, chunk))

    def audio(self, t: float, chunk: npt.NDArray[np.int16]) -> None:
        self.pcm.append((t, chunk))

    @property
    def samples(self) -> int:
        return sum(len(c) for _, c in self.pcm)


async def test_every_frame_arrives_with_its_source_time_and_pcm_covers_the_duration(ntsc: Path, work: Path) -> None:
    info = await info_of(ntsc)
    got = Collect()
    progress: list[float] = []
    result = await decode(
        find_binaries().ffmpeg, ntsc, info, work, on_frame=got.frame, on_audio=got.audio, on_progress=progress.append
    )
    assert len(got.frames) == result.frames == probed_frame_count(ntsc) == 120
    times = [t for t, _ in got.frames]
    assert times == pytest.approx([n * 1001 / 30000 for n in range(120)], abs=1e-9)
    assert {f.shape for _, f in got.frames} == {(180, 320)} and got.frames[0][1].dtype == np.uint8
    assert len({f.tobytes() for _, f in got.frames}) > 100, "testsrc2 moves: frames must differ"
    assert abs(got.samples - info.duration * SAMPLE_RATE) <= AAC_FRAME_AT_16K
    assert [t for t, _ in got.pcm] == pytest.approx([i * 0.5 for i in range(len(got.pcm))])
    assert np.abs(np.concatenate([c for _, c in got.pcm]).astype(np.int32)).mean() > 300, "audio is not silence"
    assert progress[-1] == 1.0
    assert list(work.iterdir()) == []


async def test_source_without_audio_gives_frames_and_no_pcm(media: Path, work: Path) -> None:
    silent = make_source(media / "silent.mp4", seconds=2, levels_lufs=None)
    info = await info_of(silent)
    assert info.audio is None
    got = Collect()
    result = await decode(find_binaries().ffmpeg, silent, info, work, on_frame=got.frame, on_audio=got.audio)
    assert (len(got.frames), result.samples, got.pcm) == (50, 0, [])


async def test_audio_alone_is_decoded_without_frames(ntsc: Path, work: Path) -> None:
    got = Collect()
    result = await decode(find_binaries().ffmpeg, ntsc, await info_of(ntsc), work, on_audio=got.audio)
    assert result.frames == 0 and got.frames == []
    assert abs(got.samples - 4 * SAMPLE_RATE) <= AAC_FRAME_AT_16K


async def test_ranges_deliver_exactly_their_frames_and_samples_in_source_time(ntsc: Path, work: Path) -> None:
    info = await info_of(ntsc)
    whole, part = Collect(), Collect()
    await decode(find_binaries().ffmpeg, ntsc, info, work, on_frame=whole.frame)
    ranges = [(2.93, 3.6), (0.5, 1.7)]  # out of order; starts between frames
    await decode(find_binaries().ffmpeg, ntsc, info, work, on_frame=part.frame, on_audio=part.audio, ranges=ranges)
    expected = [n for n in range(120) if any(s <= n * 1001 / 30000 < e for s, e in sorted(ranges))]
    assert [round(t * 30000 / 1001, 6) for t, _ in part.frames] == expected
    by_index = {round(t * 30000 / 1001): f for t, f in whole.frames}
    for t, frame in part.frames:  # the same pictures as the whole decode at the same times
        assert np.array_equal(frame, by_index[round(t * 30000 / 1001)]), t
    assert part.samples == pytest.approx(SAMPLE_RATE * (1.2 + 0.67), abs=2)
    assert part.pcm[0][0] == 0.5 and any(t == 2.93 for t, _ in part.pcm)
    assert list(work.iterdir()) == []


async def test_decimated_frames_keep_source_times(ntsc: Path, work: Path) -> None:
    got = Collect()
    options = DecodeOptions(frame_rate=5, width=160)
    result = await decode(find_binaries().ffmpeg, ntsc, await info_of(ntsc), work, on_frame=got.frame, options=options)
    # The video lasts 120 / 29.97 = 4.004 s: the frame on screen at 4.0 s is the last one.
    assert result.size == (160, 90) and len(got.frames) == 21
    assert [t for t, _ in got.frames] == pytest.approx([n / 5 for n in range(21)])


@pytest.mark.parametrize("slow", ["frames", "audio", "pictures"])
async def test_a_slow_consumer_does_not_deadlock_the_other_pipes_or_block_the_loop(
    long_small: Path, work: Path, slow: str
) -> None:
    got = Collect()
    slow_threads: set[int] = set()

    def slow_frame(t: float, frame: npt.NDArray[np.uint8]) -> None:
        slow_threads.add(threading.get_ident())
        time.sleep(0.004)
        got.frame(t, frame)

    def slow_audio(t: float, chunk: npt.NDArray[np.int16]) -> None:
        slow_threads.add(threading.get_ident())
        time.sleep(0.04)
        got.audio(t, chunk)

    def slow_picture(t: float, picture: npt.NDArray[np.uint8]) -> None:
        slow_threads.add(threading.get_ident())
        time.sleep(0.004)
        got.picture(t, picture)

    gaps: list[float] = []

    async def heartbeat() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    beating = asyncio.create_task(heartbeat())
    started = time.monotonic()
    consumers = Consumers(on_frame=got.frame, on_audio=got.audio, on_picture=got.picture, on_channels=got.stereo)
    slowed: dict[str, Consumers] = {
        "frames": {"on_frame": slow_frame},
        "audio": {"on_audio": slow_audio},
        "pictures": {"on_picture": slow_picture},
    }
    consumers |= slowed[slow]
    info = await info_of(long_small)
    await asyncio.wait_for(decode(find_binaries().ffmpeg, long_small, info, work, **consumers), 60)
    elapsed = time.monotonic() - started
    beating.cancel()
    assert len(got.frames) == len(got.pictures) == 450 and abs(got.samples - 45 * SAMPLE_RATE) <= AAC_FRAME_AT_16K
    assert sum(len(c) for _, c in got.channels) == got.samples
    assert elapsed > 1.5, "the slow consumer really was slow"
    assert slow_threads and threading.get_ident() not in slow_threads, "the slow consumer ran on the event loop"
    # A loop blocked by the slow consumer would stall for most of the decode; a loaded machine delays a 10 ms
    # sleep by far less than half of it.
    assert max(gaps) < elapsed / 2, "the event loop was blocked"


async def test_cancelling_kills_ffmpeg_and_removes_the_pipes(long_small: Path, work: Path) -> None:
    first = threading.Event()
    after_cancel: list[float] = []
    cancelled = threading.Event()

    def slow(t: float, frame: npt.NDArray[np.uint8]) -> None:
        first.set()
        if cancelled.is_set():
            after_cancel.append(t)
        time.sleep(0.02)

    info = await info_of(long_small)
    task = asyncio.create_task(decode(find_binaries().ffmpeg, long_small, info, work, on_frame=slow,
                                      on_audio=lambda t, c: None))
    while not first.is_set():
        await asyncio.sleep(0.01)
    assert ffmpeg_children_of(work), "ffmpeg is running"
    task.cancel()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    cancelled.set()
    assert time.monotonic() - started < 2
    assert_nothing_left(work)
    await asyncio.sleep(0.1)
    assert after_cancel == [], "no frame is delivered once decode has returned"


@pytest.mark.parametrize("which", ["frames", "audio"])
async def test_a_consumer_exception_propagates_and_leaves_nothing_behind(
    long_small: Path, work: Path, which: str
) -> None:
    def boom(t: float, data: npt.NDArray[np.generic]) -> None:
        if t >= 2:
            raise ValueError(f"analyser failed at {t}")

    consumers: Consumers = {"on_frame": lambda t, f: None, "on_audio": lambda t, c: None}
    consumers["on_frame" if which == "frames" else "on_audio"] = boom
    info = await info_of(long_small)
    with pytest.raises(ValueError, match="analyser failed at 2"):
        await decode(find_binaries().ffmpeg, long_small, info, work, **consumers)
    assert_nothing_left(work)


async def test_a_corrupt_file_raises_ffmpeg_error_and_leaves_nothing_behind(
    ntsc: Path, work: Path, tmp_path: Path
) -> None:
    info = await info_of(ntsc)
    garbage = tmp_path / "corrupt.mp4"
    garbage.write_bytes(np.random.default_rng(1).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
    with pytest.raises(FFmpegError) as raised:
        await asyncio.wait_for(decode(find_binaries().ffmpeg, garbage, info, work, on_frame=lambda t, f: None,
                                      on_audio=lambda t, c: None), 30)
    assert raised.value.stderr_tail
    assert_nothing_left(work)


_KILLED_CHILD = """
import asyncio, sys, time
from pathlib import Path
from app.media.decode import decode
from app.media.ffmpeg import find_binaries
from app.media.probe import probe

async def main(source: Path, work: Path) -> None:
    info = await probe(find_binaries().ffprobe, source)
    def slow(t, frame):
        if t == 0:
            print("decoding", flush=True)
        time.sleep(0.05)
    await decode(find_binaries().ffmpeg, source, info, work, on_frame=slow, on_audio=lambda t, c: None)

asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))
"""


def test_kill_9_of_the_decoding_process_leaves_no_ffmpeg_and_no_fifo(long_small: Path, work: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_KILLED_CHILD), str(long_small), str(work)],
        stdout=subprocess.PIPE, start_new_session=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"decoding\n"
        # Killed once every reader has seen its writer and unlinked its pipe's name (the frames reader has: it
        # printed), with ffmpeg held by the slow consumer: 45 s of frames at 50 ms each.
        deadline = time.monotonic() + 30
        while list(work.glob("*.fifo")):
            assert time.monotonic() < deadline, "a reader never opened its pipe"
            time.sleep(0.01)
        assert ffmpeg_children_of(work), "ffmpeg is running"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        assert_nothing_left(work)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)



def tone_left(path: Path, layout: str = "stereo", seconds: float = 3) -> Path:
    """A 440 Hz tone on the first (front left) channel only, the other channels silent, over a small picture."""
    others = "|0" * {"stereo": 1, "5.1": 5}[layout]
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=160x90:rate=25:duration={seconds}",
           "-f", "lavfi", "-i", f"aevalsrc=0.5*sin(440*2*PI*t){others}:s=48000:c={layout}:d={seconds}",
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "192k", str(path))
    return path


def nearest_grey(picture: npt.NDArray[np.uint8], grey: list[tuple[float, npt.NDArray[np.uint8]]]) -> float:
    """The time of the grey frame the picture looks most like."""
    h, w = grey[0][1].shape
    small = cv2.cvtColor(cv2.resize(picture, (w, h), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    return grey[int(np.argmin([np.abs(f.astype(np.int16) - small).mean() for _, f in grey]))][0]


async def test_pictures_are_the_frames_on_screen_at_each_tenth_and_the_grey_stream_is_unchanged(
    ntsc: Path, work: Path
) -> None:
    info = await info_of(ntsc)
    both, alone = Collect(), Collect()
    result = await decode(find_binaries().ffmpeg, ntsc, info, work, on_frame=both.frame, on_picture=both.picture)
    await decode(find_binaries().ffmpeg, ntsc, info, work, on_frame=alone.frame)
    assert [t for t, _ in both.frames] == [t for t, _ in alone.frames]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(both.frames, alone.frames, strict=True))
    # 120 frames last 4.004 s: the grid times 0.0 .. 4.0 each have a frame on screen.
    assert [t for t, _ in both.pictures] == [m / 10 for m in range(41)] and result.pictures == 41
    assert result.picture_size == (640, 360) and {p.shape for _, p in both.pictures} == {(360, 640, 3)}
    assert both.pictures[0][1].dtype == np.uint8
    on_screen = [nearest_grey(p, both.frames) for _, p in both.pictures]
    assert on_screen == pytest.approx([math.floor(m / 10 * 30000 / 1001 + 1e-9) * 1001 / 30000 for m in range(41)])
    assert list(work.iterdir()) == []


async def test_at_30_fps_every_third_grey_frame_has_its_picture_at_the_same_time(media: Path, work: Path) -> None:
    source = make_source(media / "thirty.mp4", seconds=2, rate="30", levels_lufs=None)
    got = Collect()
    await decode(find_binaries().ffmpeg, source, await info_of(source), work, on_frame=got.frame,
                 on_picture=got.picture)
    grey_times = [t for t, _ in got.frames][::3]
    assert [t for t, _ in got.pictures] == pytest.approx(grey_times, abs=1e-9) and len(grey_times) == 20
    assert [nearest_grey(p, got.frames) for _, p in got.pictures] == pytest.approx(grey_times, abs=1e-9)


async def test_ranges_deliver_exactly_the_pictures_of_their_grid_times(ntsc: Path, work: Path) -> None:
    info = await info_of(ntsc)
    whole, part = Collect(), Collect()
    await decode(find_binaries().ffmpeg, ntsc, info, work, on_picture=whole.picture)
    ranges = [(2.93, 3.6), (0.5, 1.7)]
    result = await decode(find_binaries().ffmpeg, ntsc, info, work, on_picture=part.picture, ranges=ranges)
    # From each range's first frame (0.5005 s, 2.9363 s) to its end.
    expected = [m / 10 for m in [*range(6, 17), *range(30, 36)]]
    assert [t for t, _ in part.pictures] == expected and result.pictures == len(expected)
    by_time = {round(t * 10): p for t, p in whole.pictures}
    assert all(np.array_equal(p, by_time[round(t * 10)]) for t, p in part.pictures)
    assert list(work.iterdir()) == []


@pytest.mark.parametrize(
    ("size", "video_args", "picture"),
    [
        ("1280x720", (), (960, 540)),
        ("320x240", (), (320, 240)),  # never scaled up
        ("360x640", (), (360, 640)),
        ("720x576", ("-vf", "setsar=16/15"), (768, 576)),  # anamorphic 4:3 PAL: 768x576 on screen
    ],
)
async def test_pictures_keep_the_display_aspect(
    media: Path, work: Path, size: str, video_args: tuple[str, ...], picture: tuple[int, int]
) -> None:
    source = make_source(media / f"aspect-{size}.mp4", seconds=0.4, size=size, levels_lufs=None,
                         video_args=video_args)
    got = Collect()
    result = await decode(find_binaries().ffmpeg, source, await info_of(source), work, on_picture=got.picture)
    assert result.picture_size == picture and len(got.pictures) == 4  # 10 frames: 0.0 .. 0.3 s
    assert {p.shape for _, p in got.pictures} == {(picture[1], picture[0], 3)}


@pytest.mark.parametrize("layout", ["stereo", "5.1"])
async def test_a_tone_on_the_left_is_loud_on_the_left_channel_only(media: Path, work: Path, layout: str) -> None:
    source = tone_left(media / f"left-{layout}.mp4", layout)
    info = await info_of(source)
    got, mono_only = Collect(), Collect()
    await decode(find_binaries().ffmpeg, source, info, work, on_audio=got.audio, on_channels=got.stereo)
    await decode(find_binaries().ffmpeg, source, info, work, on_audio=mono_only.audio)
    assert [(t, len(c)) for t, c in got.channels] == [(t, len(c)) for t, c in got.pcm]
    assert {c.shape[1:] for _, c in got.channels} == {(2,)} and got.channels[0][1].dtype == np.int16
    left, right = np.concatenate([c for _, c in got.channels]).astype(np.float64).T
    assert np.sqrt(np.mean(left**2)) > 5000 and np.sqrt(np.mean(right**2)) < 20
    mono = np.concatenate([c for _, c in got.pcm])
    assert np.array_equal(mono, np.concatenate([c for _, c in mono_only.pcm])), "the VAD's mono is ffmpeg's downmix"


async def test_a_mono_source_never_calls_the_channels_consumer(media: Path, work: Path) -> None:
    source = make_source(media / "mono.mp4", seconds=1, mono=True)
    got = Collect()
    result = await decode(find_binaries().ffmpeg, source, await info_of(source), work, on_audio=got.audio,
                          on_channels=got.stereo)
    assert got.channels == [] and result.samples == got.samples > 0


async def test_cancelling_with_every_pipe_open_kills_ffmpeg_and_removes_the_pipes(
    long_small: Path, work: Path
) -> None:
    started = threading.Event()

    def slow(t: float, picture: npt.NDArray[np.uint8]) -> None:
        started.set()
        time.sleep(0.02)

    info = await info_of(long_small)
    task = asyncio.create_task(decode(find_binaries().ffmpeg, long_small, info, work, on_frame=lambda t, f: None,
                                      on_picture=slow, on_audio=lambda t, c: None, on_channels=lambda t, c: None))
    while not started.is_set():
        await asyncio.sleep(0.01)
    assert len(ffmpeg_children_of(work)) == 1, "one ffmpeg writes every pipe"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert_nothing_left(work)

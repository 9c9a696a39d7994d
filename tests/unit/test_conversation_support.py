"""The generated conversation matches its ground truth: size and length, whose mouth moves, which channel is loud."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.analysis.face_detector import detect_faces
from app.media.ffmpeg import find_binaries
from tests.support.conversation import SAMPLE_RATE, Box, Conversation, conversation_source, conversation_turns, inside
from tests.support.frames import luma_frames

TURNS = [(0.5, 4.5, 0), (5.0, 9.0, 1)]
W, H = 640, 360


@pytest.fixture(scope="module")
def panned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Conversation]:
    path = tmp_path_factory.mktemp("conversation") / "panned.mp4"
    return path, conversation_source(path, seconds=10, frame=(W, H), face_height=0.15, turns=TURNS, stereo="panned")


@pytest.fixture(scope="module")
def frames(panned: tuple[Path, Conversation]) -> np.ndarray:
    return luma_frames(panned[0], W, H)


def streams(path: Path) -> list[dict[str, str]]:
    argv = [find_binaries().ffprobe, "-v", "error", "-show_streams", "-of", "json", str(path)]
    found: list[dict[str, str]] = json.loads(subprocess.run(argv, capture_output=True, check=True).stdout)["streams"]
    return found


def samples(path: Path, channels: int) -> np.ndarray:
    argv = [find_binaries().ffmpeg, "-v", "error", "-i", str(path), "-f", "f32le", "-ac", str(channels), "-"]
    pcm = np.frombuffer(subprocess.run(argv, capture_output=True, check=True).stdout, dtype="<f4")
    return pcm.reshape(-1, channels)


def rms(pcm: np.ndarray, start: float, end: float) -> np.ndarray:
    return np.sqrt(np.mean(pcm[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)] ** 2, axis=0))


def mouth(frame: np.ndarray, face: Box) -> np.ndarray:
    """The lower middle of a face box: the face's integer offset is fixed, so this crop follows the head exactly."""
    x, y, w, h = face
    return frame[int(y + 0.6 * h) : int(y + h), int(x + 0.2 * w) : int(x + 0.8 * w)].astype(float)


def test_file_has_the_ground_truths_size_length_and_streams(panned: tuple[Path, Conversation]) -> None:
    path, talk = panned
    video, audio = streams(path)
    assert (video["codec_name"], int(video["width"]), int(video["height"])) == ("h264", W, H)
    assert int(video["nb_frames"]) == round(talk.seconds * talk.rate) == 250
    assert (audio["codec_name"], int(audio["sample_rate"]), int(audio["channels"])) == ("aac", SAMPLE_RATE, 2)
    assert float(video["duration"]) == pytest.approx(10, abs=0.05)
    assert float(audio["duration"]) == pytest.approx(10, abs=0.05)


def test_only_the_speakers_mouth_moves_though_both_heads_sway(
    panned: tuple[Path, Conversation], frames: np.ndarray
) -> None:
    talk = panned[1]
    for start, end, speaker in talk.turns:
        indices = range(round((start + 0.2) * talk.rate), round((end - 0.2) * talk.rate))
        boxes = [talk.face_boxes(i / talk.rate) for i in indices]
        assert len({b[1 - speaker][:2] for b in boxes}) > 5  # the listener's head moves too
        change = [
            np.mean([np.abs(mouth(frames[i + 1], b1[p]) - mouth(frames[i], b0[p])).mean() for i, b0, b1 in
                     zip(indices, boxes, boxes[1:], strict=False)])
            for p in (0, 1)
        ]  # fmt: skip
        assert change[speaker] > 5 * change[1 - speaker], (speaker, change)
        assert change[1 - speaker] < 2.5


def test_panned_speaker_is_louder_on_their_own_side(panned: tuple[Path, Conversation]) -> None:
    pcm = samples(panned[0], 2)
    for start, end, speaker in TURNS:
        left, right = rms(pcm, start + 0.2, end - 0.2)
        mine, theirs = (left, right) if speaker == 0 else (right, left)
        assert mine > 2.5 * theirs
    assert rms(pcm, 4.6, 4.9).max() < 1e-3  # the pause between turns is silent


def test_the_face_detector_finds_both_faces_where_the_ground_truth_says(
    panned: tuple[Path, Conversation], frames: np.ndarray
) -> None:
    talk = panned[1]
    for t in (1.0, 6.2):
        picture = cv2.cvtColor(frames[round(t * talk.rate)], cv2.COLOR_GRAY2BGR)
        found = [(f.x, f.y, f.w, f.h) for f in detect_faces(picture)]
        for face in talk.face_boxes(t):
            assert any(inside(box, face) for box in found), (t, face, found)


def test_framed_share_rewards_the_speaker_alone_in_the_window(panned: tuple[Path, Conversation]) -> None:
    talk = panned[1]

    def on_speaker(t: float) -> Box:
        return talk.face_boxes(t)[talk.speaker_at(t) or 0]

    def on_listener(t: float) -> Box:
        return talk.face_boxes(t)[1 - (talk.speaker_at(t) or 0)]

    def tall_crop(t: float) -> Box:  # a 9:16 window centred on the speaker's face
        x, y, w, h = on_speaker(t)
        return (x + w / 2 - H * 9 / 32, 0.0, H * 9 / 16, float(H))

    assert talk.framed_share(on_speaker) == 1.0
    assert talk.framed_share(tall_crop) == 1.0
    assert talk.framed_share(on_listener) == 0.0
    assert talk.framed_share(lambda t: (0.0, 0.0, float(W), float(H))) == 0.0  # both faces: nobody is framed
    assert talk.framed_share(lambda t: (0.0, 0.0, W / 2, float(H))) == pytest.approx(0.5, abs=0.02)
    assert talk.kept_share(lambda t: (0.0, 0.0, W / 2, float(H)), 0) == 1.0
    assert talk.kept_share(lambda t: (0.0, 0.0, W / 2, float(H)), 1) == 0.0


def test_speaker_at_names_one_talker_and_nobody_in_pauses_or_crosstalk() -> None:
    talk = Conversation(
        turns=((0.5, 4.0, 0), (3.0, 6.0, 1)), frame=(W, H), rate=25, seconds=7, boxes=np.zeros((175, 2, 4))
    )
    assert [talk.speaker_at(t) for t in (0.2, 1.0, 3.5, 5.0, 6.5)] == [None, 0, None, 1, None]
    assert talk.speakers_at(3.5) == (0, 1)


@pytest.mark.parametrize("split_talk", [False, True])
def test_random_turns_alternate_and_last_three_to_ten_seconds(split_talk: bool) -> None:
    for seed in range(20):
        turns = conversation_turns(60, seed=seed, split_talk=split_talk)
        assert turns[0][0] == 0.5 and turns[-1][1] <= 59.7
        for (start, end, who), (after, _, other) in zip(turns, turns[1:], strict=False):
            assert 3.0 <= end - start <= 10.0 and other == 1 - who
            assert 1.0 <= end - after <= 2.0 if split_talk else 0.2 <= after - end <= 0.8
        for (_, end, _), (start, _, _) in zip(turns, turns[2:], strict=False):
            assert start > end  # a speaker's own turns never overlap


def test_mono_split_source_with_music_under_the_speech(tmp_path: Path) -> None:
    path = tmp_path / "split.mp4"
    talk = conversation_source(
        path, seconds=3, frame=(320, 180), turns=[(0.5, 2.0, 1)], stereo="mono", music_db=-10, layout="split"
    )
    assert int(streams(path)[1]["channels"]) == 1
    left, right = talk.face_boxes(1.0)
    assert left[0] + left[2] < 160 < right[0]
    pcm = samples(path, 1)
    music_below_speech = 20 * np.log10(rms(pcm, 2.2, 2.9)[0] / rms(pcm, 0.6, 1.9)[0])
    assert -14 < music_below_speech < -7

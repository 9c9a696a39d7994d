"""Face tracks, mouth motion, speaker turns and the speaker-framed crop, on synthetic arrays."""

from __future__ import annotations

import numpy as np

from app.analysis.bars import Rect
from app.analysis.crop_window import crop_size
from app.analysis.face_detector import Face
from app.analysis.reframe import reframe, reframe_split
from app.analysis.speaker import MIN_HOLD, Speech, turns
from app.analysis.tracks import FaceBox, FaceTrack, FaceTracker, link, mouth_motion
from tests.unit.analysis.builders import features, texture

PICTURE = (640, 360)
SOURCE = (1280, 720)
LEFT, RIGHT = (130.0, 150.0), (470.0, 140.0)  # face centres in picture pixels, 0.53 of the width apart
FACE = 36.0  # 10 % of the picture's height
RATE = 10


def face_at(centre: tuple[float, float], size: float = FACE) -> Face:
    return Face(centre[0] - size / 2, centre[1] - size / 2, size, size, 0.9, None)


def conversation_turns(seconds: float, seed: int = 1) -> list[tuple[float, float, int]]:
    """Turns of 3–10 s with 0.4 s pauses between them, alternating speakers."""
    rng = np.random.default_rng(seed)
    out, t, who = [], 0.5, 0
    while t < seconds - 1:
        length = float(rng.uniform(3, 10))
        out.append((t, min(seconds, t + length), who))
        t += length + 0.4
        who = 1 - who
    return out


def mouth_track(
    track_id: int, centre: tuple[float, float], seconds: float, talking: list[tuple[float, float]]
) -> FaceTrack:
    """A still face whose mouth moves (with some noise) only inside `talking`, measured at RATE."""
    rng = np.random.default_rng(track_id + 7)
    times = np.round(np.arange(0, seconds, 1 / RATE), 3)
    speaking = np.array([any(a <= t < b for a, b in talking) for t in times])
    mouth = np.where(speaking, rng.uniform(2.0, 9.0, len(times)) * (rng.random(len(times)) > 0.2), 0.0)
    mouth += rng.uniform(0, 0.4, len(times))  # sensor noise and a little sway on every face
    boxes = tuple(
        FaceBox(float(t), centre[0] - FACE / 2, centre[1] - FACE / 2, FACE, FACE) for t in np.arange(0, seconds, 0.5)
    )
    return FaceTrack(track_id, boxes, tuple(float(t) for t in times), tuple(float(m) for m in mouth))


def conversation_features(seconds: float, turns_: list[tuple[float, float, int]], **kw: object) -> object:
    tracks = [
        mouth_track(i, centre, seconds, [(a, b) for a, b, who in turns_ if who == i])
        for i, centre in enumerate((LEFT, RIGHT))
    ]
    pauses = []
    edges = [0.0] + [x for a, b, _ in turns_ for x in (a, b)] + [seconds]
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        if b - a >= 0.2:
            pauses.append((a, b))
    return features(seconds, frame_size=PICTURE, face_tracks=tracks, pauses=pauses, speech=0.8, **kw)  # type: ignore[arg-type]


def test_tracks_link_moving_faces_bridge_misses_and_drop_what_does_not_persist() -> None:
    samples = []
    for k in range(20):
        t = k * 0.5
        faces = [face_at((100 + 4 * k, 150))]  # drifts right
        if k not in (7, 8):  # two samples missed: a turned head
            faces.append(face_at((500 - 3 * k, 140)))
        if k == 5:
            faces.append(face_at((320, 300), 20))  # a flash of a false face
        samples.append((t, faces))
    tracks = link(samples)
    assert len(tracks) == 2
    left, right = sorted(tracks, key=lambda tr: tr.boxes[0].x)
    assert len(left.boxes) == 20 and len(right.boxes) == 18
    assert right.end == 9.5  # bridged across the miss, one track


def test_tracks_end_after_a_long_miss_and_split_at_cuts() -> None:
    samples = [(k * 0.5, [face_at((200, 150))]) for k in range(8)]
    samples += [(k * 0.5, []) for k in range(8, 12)]  # 2 s without the face
    samples += [(k * 0.5, [face_at((205, 150))]) for k in range(12, 20)]
    assert len(link(samples)) == 2
    one = [(k * 0.5, [face_at((200, 150))]) for k in range(20)]
    assert [(tr.start, tr.end) for tr in link(one, cuts=[5.0])] == [(0.0, 4.5), (5.0, 9.5)]


def test_mouth_motion_sees_a_moving_mouth_and_not_a_moving_head() -> None:
    base = texture(4, 640, 360)
    box = FaceBox(0, 100, 100, 60, 60)
    talking = base.copy()
    talking[150:156, 115:145] = 20  # the mouth opens: a dark bar low in the face
    moving = mouth_motion(base, talking, box)
    assert moving is not None and moving > 2.0
    shifted = np.roll(base, 3, axis=1)  # the whole picture moves: head sway, a pan
    swaying = mouth_motion(base, shifted, box)
    assert swaying is not None and swaying < 0.5 * moving


def test_the_tracker_measures_each_faces_mouth_on_every_picture() -> None:
    tracker = FaceTracker()
    base = texture(5, 640, 360)
    for k in range(40):
        t = round(k / RATE, 3)
        if k % 5 == 0:
            tracker.detected(t, [face_at((150, 150), 60), face_at((450, 150), 60)])
        picture = base.copy()
        if k % 2:
            picture[160:170, 130:170] = 10  # only the left mouth moves
        tracker.picture(t, picture)
    left, right = sorted(tracker.tracks(), key=lambda tr: tr.boxes[0].x)
    assert np.mean(left.mouth) > 5 * (np.mean(right.mouth) + 0.1)
    assert len(left.mouth) == 39


def test_turns_follow_who_speaks_and_hold_through_pauses() -> None:
    seconds = 60.0
    spoken = conversation_turns(seconds)
    f = conversation_features(seconds, spoken)
    result = turns(f.face_tracks, 0.0, seconds, Speech(True, f.pauses), PICTURE[0])  # type: ignore[attr-defined]
    assert all(t.why == "speaker" for t in result)
    hits = total = 0
    for a, b, who in spoken:
        for t in np.arange(a + 1.0, b, 0.1):  # one second of grace after each change
            framed = next(turn for turn in result if turn.start <= t < turn.end)
            hits += framed.track == who
            total += 1
    assert hits / total >= 0.95
    assert all(t.end - t.start >= MIN_HOLD - 1e-6 for t in result[:-1])


def test_a_quick_exchange_does_not_flicker() -> None:
    spoken = [(0.5, 6.0, 0), (6.3, 6.9, 1), (7.1, 12.0, 0), (12.3, 20.0, 1)]
    f = conversation_features(20.0, spoken)
    result = turns(f.face_tracks, 0.0, 20.0, Speech(True, f.pauses), PICTURE[0])  # type: ignore[attr-defined]
    assert [t.track for t in result] == [0, 1]  # the 0.6 s interjection is held through, not framed


def test_stereo_balance_decides_when_mouths_say_nothing() -> None:
    spoken = conversation_turns(40.0, seed=3)
    f = conversation_features(40.0, spoken)
    still = [FaceTrack(tr.id, tr.boxes, tr.mouth_times, tuple(0.2 for _ in tr.mouth)) for tr in f.face_tracks]  # type: ignore[attr-defined]
    balance = np.zeros(160)
    for a, b, who in spoken:
        balance[int(a / 0.25) : int(b / 0.25)] = 8.0 if who == 0 else -8.0  # speaker 0 on the left channel
    speech = Speech(True, f.pauses, balance)  # type: ignore[attr-defined]
    assert turns(still, 0.0, 40.0, speech, PICTURE[0])[0].why == "largest"  # mouths alone: no evidence
    faint = [FaceTrack(tr.id, tr.boxes, tr.mouth_times, tuple(0.4 for _ in tr.mouth)) for tr in still]
    result = turns(faint, 0.0, 40.0, speech, PICTURE[0])
    decided = [t.track for t in result]
    assert len(decided) >= 3 and decided[0] == spoken[0][2]


def test_the_crop_frames_the_speaker_and_cuts_rather_than_pans() -> None:
    seconds = 60.0
    spoken = conversation_turns(seconds, seed=2)
    f = conversation_features(seconds, spoken)
    path = reframe(f, 0.0, seconds, aspect="9:16", source_size=SOURCE)  # type: ignore[arg-type]
    scale = SOURCE[0] / PICTURE[0]
    centres = [(LEFT[0] * scale, LEFT[1] * scale), (RIGHT[0] * scale, RIGHT[1] * scale)]
    hits = total = 0
    for a, b, who in spoken:
        for t in np.arange(a + 1.0, b, 0.1):
            x, y, w, h = path.at(float(t))
            inside = [x <= cx <= x + w for cx, _ in centres]
            hits += inside[who] and not inside[1 - who]
            total += 1
    assert hits / total >= 0.9
    xs = [k.x for k in path.keyframes]
    moves = [(a, b) for a, b in zip(path.keyframes, path.keyframes[1:], strict=False) if a.x != b.x]
    assert moves and all(a.t == b.t for a, b in moves)  # every change of framing is a cut
    assert len(set(xs)) == 2
    assert {k.why for k in path.keyframes} == {"speaker"} and {k.track for k in path.keyframes} == {0, 1}


def test_framing_largest_and_centre_ignore_who_speaks() -> None:
    spoken = conversation_turns(30.0)
    f = conversation_features(30.0, spoken)
    largest = reframe(f, 0.0, 30.0, aspect="9:16", source_size=SOURCE, framing="largest")  # type: ignore[arg-type]
    assert len({(k.x, k.track) for k in largest.keyframes}) == 1 and largest.keyframes[0].why == "largest"
    centre = reframe(f, 0.0, 30.0, aspect="9:16", source_size=SOURCE, framing="centre")  # type: ignore[arg-type]
    assert {k.x for k in centre.keyframes} == {(SOURCE[0] - centre.w) // 2} and centre.keyframes[0].why == "centre"


def test_split_gives_each_speaker_a_half_that_keeps_their_face() -> None:
    seconds = 40.0
    spoken = conversation_turns(seconds, seed=4)
    f = conversation_features(seconds, spoken)
    pair = reframe_split(f, 0.0, seconds, source_size=SOURCE)  # type: ignore[arg-type]
    assert pair is not None
    top, bottom = pair
    assert top.w * 8 == top.h * 9 or abs(top.w / top.h - 9 / 8) < 0.01
    scale = SOURCE[0] / PICTURE[0]
    for path, (cx, cy) in zip(pair, (LEFT, RIGHT), strict=True):
        for t in np.arange(0, seconds, 0.5):
            x, y, w, h = path.at(float(t))
            assert x <= cx * scale <= x + w and y <= cy * scale <= y + h
    one = conversation_features(seconds, [(a, b, 0) for a, b, _ in spoken])
    assert reframe_split(one, 0.0, seconds, source_size=SOURCE) is None  # type: ignore[arg-type]


def test_a_shot_without_faces_follows_the_motion() -> None:
    centre = np.full(40, np.nan)
    centre[:] = np.linspace(0.15, 0.3, 40)  # something moving on the left of the picture
    f = features(20.0, frame_size=PICTURE, motion_centre=centre)
    path = reframe(f, 0.0, 20.0, aspect="9:16", source_size=SOURCE)
    x, _, w, _ = path.at(5.0)
    assert x <= 0.2 * SOURCE[0] <= x + w and path.keyframes[0].why == "motion"
    still = features(20.0, frame_size=PICTURE, motion_centre=np.full(40, np.nan))
    assert reframe(still, 0.0, 20.0, aspect="9:16", source_size=SOURCE).keyframes[0].why == "centre"


def test_a_face_seen_in_few_samples_is_still_framed_when_it_is_the_only_one() -> None:
    samples = [(t, [(60.0, 50.0, 30.0, 30.0)] if int(t * 2) % 5 == 0 else []) for t in np.arange(0, 10, 0.5)]
    f = features(10.0, face_samples=samples)
    path = reframe(f, 0.0, 10.0, aspect="9:16", source_size=(1920, 1080))
    x, _, w, _ = path.at(5.0)
    assert x <= 75 * 6 <= x + w  # not the centre crop


def test_anamorphic_crops_have_the_aspect_as_displayed() -> None:
    w, h = crop_size("9:16", Rect(0, 0, 720, 576), sar=16 / 15)
    assert abs(w * 16 / 15 / h - 9 / 16) < 0.01
    w, h = crop_size("1:1", Rect(0, 0, 720, 576), sar=16 / 15)
    assert abs(w * 16 / 15 / h - 1) < 0.01

"""Where a smart reel's joints are and which frames verify decodes around them, on made-up clips."""

from __future__ import annotations

from app.stages.joints import AFTER_JOINT_FRAMES, Window, joints, windows
from app.stages.render import RenderedClip


def clip(mode: str = "encode", copied: int = 0, head: int | None = None) -> RenderedClip:
    smart = mode == "smart"
    return RenderedClip(
        path="x", size=1, sha256="0", render_mode="smart" if smart else "encode", copied_frames=copied, head_frames=head
    )


def test_an_encoded_reel_has_no_joint_to_decode() -> None:
    assert joints([100, 200], [clip(), clip()], keyframes=[0, 50, 100, 150, 200, 250]) == []


def test_a_smart_clip_has_joints_at_its_cuts_and_its_edges() -> None:
    # Clip 1 (frames 100..400): 20 encoded, 250 copied from frame 120, 30 encoded.
    found = joints([100, 300, 100], [clip(), clip("smart", 250, 20), clip()], keyframes=[0, 100, 120, 370, 400])
    assert found == [100, 120, 370, 400]


def test_the_reel_edges_are_not_joints() -> None:
    # A smart clip alone: its start and end are the reel's, with nothing on the other side.
    assert joints([300], [clip("smart", 250, 25)], keyframes=[0, 25, 275]) == [25, 275]


def test_a_smart_clip_checkpointed_without_its_head_is_decoded_at_every_keyframe() -> None:
    found = joints([100, 300], [clip(), clip("smart", 200, None)], keyframes=[0, 100, 150, 250, 350])
    assert found == [100, 150, 250, 350]


def test_a_window_runs_from_the_keyframe_before_the_joint_to_what_the_joint_can_reach() -> None:
    keyframes = [0, 100, 120, 370, 400, 450]
    # The copied GOP after the joint at 120 runs to 370: decoded only as far as a frame may reference across it.
    assert windows([120], keyframes, [100, 300, 100]) == [Window(100, 120 + AFTER_JOINT_FRAMES, frozenset({1}))]
    # The tail's GOP ends sooner than that: the window with it.
    assert windows([370], [0, 100, 120, 370, 380], [100, 300, 100]) == [Window(120, 380, frozenset({1}))]


def test_windows_that_touch_merge_and_name_every_clip_they_hold() -> None:
    # Joints at 370 (copied → tail) and 400 (clip edge) share the tail's GOP: one decode from 120 to 416.
    keyframes = [0, 100, 120, 370, 400, 450]
    found = windows([100, 120, 370, 400], keyframes, [100, 300, 100])
    assert found == [Window(0, 400 + AFTER_JOINT_FRAMES, frozenset({0, 1, 2}))]


def test_the_last_window_ends_with_the_reel() -> None:
    assert windows([275], [0, 25, 275], [285]) == [Window(25, 285, frozenset({0}))]

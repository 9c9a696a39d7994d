"""The Studio page's clip rules (app/api/web/clips.js), run by Node: what an edge may do, as the server would have it.

The browser test drags one edge; these cases walk the limits: 15-60 s, neighbours, the source's ends, snapping only
within reach and within bounds, five clips at most. Skipped, saying so, where Node is not installed.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from app.api.studio_page import ASSETS
from app.domain.clip_limits import MAX_CLIP_SECONDS, MAX_CLIPS, MIN_CLIP_SECONDS

NODE = shutil.which("node")

CASES = """
import assert from "node:assert/strict";
import { MIN_CLIP, MAX_CLIP, MAX_CLIPS, addClip, along, frameSeconds, highlights, moveEdge, snapTargets }
  from "{module}";

assert.deepEqual([MIN_CLIP, MAX_CLIP, MAX_CLIPS], {limits});
const clips = [{ start: 10, end: 40 }, { start: 50, end: 70 }];
const at = (list, i, edge, t, more = {}) => moveEdge(list, i, edge, t, { duration: 100, ...more })[i][edge];

assert.equal(at(clips, 0, "end", 20), 25);            // no shorter than 15 s
assert.equal(at(clips, 0, "end", 49), 49);            // up to the next clip
assert.equal(at(clips, 0, "end", 60), 50);            // never over it
assert.equal(at(clips, 0, "start", -5), 0);           // nor before the source
assert.equal(at(clips, 1, "end", 200), 100);          // nor past its end
assert.equal(at([{ start: 0, end: 59 }], 0, "end", 90), 60);  // no longer than 60 s
assert.equal(at(clips, 1, "start", 41), 41);          // a clip may begin right after the one before
assert.equal(at(clips, 1, "start", 45), 45);
assert.equal(at([{ start: 0, end: 8 }], 0, "end", 3, { duration: 8 }), 8);  // a source shorter than 15 s: all of it

const analysis = { pauses: [[33, 34]], shots: [36.2, 90] };
assert.deepEqual(snapTargets(analysis), [33.5, 36.2, 90]);
const snap = { targets: snapTargets(analysis), tolerance: 1 };
assert.equal(at(clips, 0, "end", 36.9, snap), 36.2);  // to the nearest cut within reach
assert.equal(at(clips, 0, "end", 33.9, snap), 33.5);  // or pause
assert.equal(at(clips, 0, "end", 38, snap), 38);      // none within reach: where it was dropped
assert.equal(at([{ start: 30, end: 60 }], 0, "end", 45.6, { targets: [44.9], tolerance: 1 }), 45.6); // out of bounds

assert.equal(frameSeconds("30000/1001"), 1001 / 30000);
assert.deepEqual(highlights([{ start: 1, end: 20 }]), [{ start_time: 1, end_time: 20, score: 0.5 }]);
const added = addClip(clips, 100, 80);
assert.deepEqual(added.map((c) => [c.start, c.end]), [[10, 40], [50, 70], [80, 100]]);
assert.equal(addClip([{ start: 0, end: 50 }, { start: 60, end: 100 }], 100), null);  // no gap of 15 s
const five = [0, 20, 40, 60, 80].map((s) => ({ start: s, end: s + 15 }));
assert.equal(addClip(five, 200, 150), null);          // five at most
assert.deepEqual(along([[0, 0, 0, 0.5, 1], [10, 0.5, 0, 0.5, 1]], 5), [5, 0.25, 0, 0.5, 1]);
assert.deepEqual(along([[0, 0, 0, 0.5, 1], [4, 0, 0, 0.5, 1], [4, 0.5, 0, 0.5, 1]], 4), [4, 0.5, 0, 0.5, 1]);  // a cut
console.log("ok");
"""


@pytest.mark.skipif(
    NODE is None, reason="node is not on PATH: the Studio's clip rules are run by Node (apt-get install nodejs)"
)
def test_an_edited_clip_keeps_the_servers_limits_and_snaps_only_within_reach() -> None:
    limits = f"[{MIN_CLIP_SECONDS:g}, {MAX_CLIP_SECONDS:g}, {MAX_CLIPS}]"
    script = CASES.replace("{module}", (ASSETS / "clips.js").as_uri()).replace("{limits}", limits)
    done = subprocess.run([str(NODE), "--input-type=module", "-e", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr

"""The astronaut photograph cut out at head and shoulders, drawn in advance at every mouth opening.

The mouth opens by stretching the rows from the lips to the chin downwards (most under the mouth's middle, fading
towards the cheeks) and drawing a dark gap between the lips as tall as the stretch; opening 0 is the photograph as
it is. scikit-image ships no other face photo, so a second person is the same one mirrored, darker, in a blue suit.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

import cv2
import numpy as np

# skimage.data.astronaut() without importing skimage.io (seconds of imports): the PNG it reads.
_PHOTO = files("skimage") / "data" / "astronaut.png"

# In the 512 px photograph: her face (x, y, w, h), her mouth (centre x, y, half-width), her chin's y, and the
# head-and-shoulders crop (x0, y0, x1, y1), centred on the face so that mirroring keeps the face where it was.
_FACE = (180, 65, 90, 100)
_MOUTH = (224, 146, 19)
_CHIN = 177
_CROP = (20, 5, 430, 512)
_DESK = 440  # a desk's edge at this row of the photograph (or above) hides where the crop ends
# Her outline below the hair (jaw; collar ring, shoulders, the helmet beside her), traced by eye on the photograph.
_JAW = [(178, 120), (190, 158), (210, 175), (228, 182), (250, 170), (266, 150), (272, 120)]
_BODY = [(150, 150), (120, 180), (105, 210), (60, 245), (40, 275), (28, 320), (22, 420), (20, 512), (430, 512)]
_BODY += [(428, 390), (405, 355), (364, 345), (357, 313), (343, 280), (313, 240), (303, 225), (290, 198), (262, 178)]
_MAX_OPEN = 14  # photograph pixels between the lips at full voice
LEVELS = 12  # mouth openings drawn, from shut (0) to full voice (LEVELS - 1)


@dataclass(frozen=True)
class TalkingHead:
    """One person, `LEVELS` times: `sprites[level]` is BGR premultiplied by alpha, `keep` is 255 * (1 - alpha).

    `face` is the face's (x, y, w, h) and `desk` the row a desk in front must start at or above, both in sprite
    pixels from its top-left corner.
    """

    sprites: tuple[np.ndarray, ...]
    keep: np.ndarray
    face: tuple[float, float, float, float]
    desk: float

    def paste(self, canvas: np.ndarray, level: int, x: int, y: int) -> None:
        """Blend the person with mouth opening `level` onto a BGR canvas, corner at (x, y), clipped to the canvas."""
        h, w = self.keep.shape[:2]
        ax, ay, bx, by = max(x, 0), max(y, 0), min(x + w, canvas.shape[1]), min(y + h, canvas.shape[0])
        if ax < bx and ay < by:
            part, region = np.s_[ay - y : by - y, ax - x : bx - x], canvas[ay:by, ax:bx]
            region[...] = cv2.add(cv2.multiply(region, self.keep[part], scale=1 / 255), self.sprites[level][part])


def talking_head(face_px: float, *, second: bool = False) -> TalkingHead:
    """The astronaut with her face box `face_px` tall; `second` mirrors her, darkens her and turns her suit blue."""
    scale = face_px / _FACE[3]
    x0, y0, x1, y1 = _CROP
    whole = cv2.imread(str(_PHOTO))
    if whole is None:
        raise FileNotFoundError(_PHOTO)
    crop = whole[y0:y1, x0:x1].astype(np.float32)
    mask = np.zeros(crop.shape[:2], np.float32)
    cv2.ellipse(mask, (226 - x0, 85 - y0), (74, 74), 0, 0, 360, 1.0, -1)  # hair
    for outline in (_JAW, _BODY):
        cv2.fillPoly(mask, [np.array(outline) - (x0, y0)], 1.0)
    if second:
        crop[205 - y0 :] = crop[205 - y0 :, :, ::-1]  # the orange suit turns blue; the face keeps its colours
        crop *= np.array([0.78, 0.84, 0.92], np.float32)
    size = (round((x1 - x0) * scale), round((y1 - y0) * scale))
    photo = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    alpha = cv2.GaussianBlur(cv2.resize(mask, size), (0, 0), max(1.0, 3 * scale))[..., None]
    mx, my, half = (_MOUTH[0] - x0) * scale, (_MOUTH[1] - y0) * scale, _MOUTH[2] * scale
    chin = (_CHIN - y0) * scale
    top = int(my)
    rows = np.s_[top : min(int(chin) + 2, size[1])]  # only the band from the lips to the chin ever changes
    ys, xs = np.mgrid[rows, 0 : size[0]].astype(np.float32)
    taper = np.clip(1 - ((xs - mx) / (1.8 * half)) ** 2, 0, 1)
    sprites = []
    for level in range(LEVELS):
        gap = level / (LEVELS - 1) * _MAX_OPEN * scale
        drop = gap * taper
        # Each row between lips and chin samples the row `drop` above it, squeezed so the chin's row stays put.
        below = my + np.maximum(ys - my - drop, 0) * (chin - my) / np.maximum(chin - my - drop, 1e-3)
        band = cv2.remap(photo, xs, np.where(ys <= chin, below, ys).astype(np.float32), cv2.INTER_LINEAR)
        if gap >= 0.5:  # in 1/16 px (shift 4)
            centre, axes = (round(mx * 16), round((my - top + gap / 2) * 16)), (round(half * 13), round(gap * 8))
            cv2.ellipse(band, centre, axes, 0, 0, 360, (40.0, 28.0, 75.0), -1, cv2.LINE_AA, 4)
        face = photo.copy()
        face[rows] = band
        premultiplied = (face * alpha + 0.5).astype(np.uint8)
        sprites.append(np.ascontiguousarray(premultiplied[:, ::-1] if second else premultiplied))
    keep = np.repeat(255 * (1 - alpha) + 0.5, 3, axis=2).astype(np.uint8)
    fx, fy, fw, fh = ((_FACE[0] - x0) * scale, (_FACE[1] - y0) * scale, _FACE[2] * scale, _FACE[3] * scale)
    box = (size[0] - fx - fw if second else fx, fy, fw, fh)
    keep = np.ascontiguousarray(keep[:, ::-1] if second else keep)
    return TalkingHead(sprites=tuple(sprites), keep=keep, face=box, desk=(_DESK - y0) * scale)

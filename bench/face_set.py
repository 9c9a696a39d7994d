"""The labelled face set of `bench.faces`: real face photos that installed packages ship, composited onto
non-face scenes at known sizes, rolls and light, then blurred and JPEG-compressed; and no-face scenes.

Everything is drawn from one seed, so a run makes the same frames every time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from skimage import data

from bench.wheel_file import wheel_file

Box = tuple[float, float, float, float]  # x, y, w, h in frame pixels

SIZES = (0.05, 0.07, 0.10, 0.15, 0.25)  # face height / frame height
FRAME_SHAPES = ((960, 540), (960, 540), (960, 540), (960, 720), (960, 1706))  # 16:9 three times as often
LFW_MAX_UPSCALE = 2.0  # the LFW crops are 25 px: beyond 50 px they are blur, not faces


@dataclass(frozen=True)
class Photo:
    """A face photo: the picture (BGR), the face's box in it (brow to chin, ear to ear as seen), its pose."""

    name: str
    image: np.ndarray
    face: Box
    pose: str  # "frontal" | "profile"
    context: float  # how much of the photo around the face to keep, in face sizes per side
    person: str  # who it is: photos of one person (a mirror image, an LFW repeat) are one distinct face

    @property
    def family(self) -> str:
        """The photo's source: astronaut, hopper, cameraman or lfw."""
        return self.name.split("-")[0]


@dataclass(frozen=True)
class Frame:
    """One labelled frame: BGR pixels and the true face boxes."""

    bucket: str
    picture: np.ndarray
    faces: tuple[Box, ...]
    photos: tuple[str, ...]


# matplotlib's sample photo of Grace Hopper (512x600 colour, frontal, cap and uniform around the face): the one
# other real frontal face with a head around it that a wheel ships. Read from the wheel, never installed.
HOPPER_WHEEL = "matplotlib==3.10.7"
HOPPER_SHA256 = "2222c7ba2cbde7fe63032769f6eb7e83ab3227f47d997a8453377709b7fe3a5a"
HOPPER_FILE = "matplotlib/mpl-data/sample_data/grace_hopper.jpg"


@lru_cache(maxsize=1)
def photos() -> tuple[Photo, ...]:
    """Every face photo found in packages: scikit-image's data and matplotlib's sample photo."""
    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    camera = cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2BGR)
    hopper = np.asarray(cv2.imread(str(wheel_file(HOPPER_WHEEL, HOPPER_SHA256, HOPPER_FILE)), cv2.IMREAD_COLOR))
    found = [
        # Boxes found by eye on the pictures, brow to chin.
        Photo("astronaut", astronaut, (180, 65, 90, 100), "frontal", 0.6, "astronaut"),
        Photo("hopper", hopper, (182, 170, 168, 163), "frontal", 0.6, "hopper"),
        Photo("cameraman", camera, (178, 112, 74, 83), "profile", 0.6, "cameraman"),
        Photo("cameraman-mirrored", camera[:, ::-1].copy(), (512 - 252, 112, 74, 83), "profile", 0.6, "cameraman"),
    ]
    lfw = data.lfw_subset()[:100]  # the first 100 are faces (the rest are non-face crops)
    for i, crop in enumerate(lfw):
        grey = np.clip(crop * 255, 0, 255).astype(np.uint8)
        # The set names no one: each crop counts as a person, so the distinct count is an upper bound.
        bgr = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
        found.append(Photo(f"lfw-{i:03d}", bgr, (0, 0, 25, 25), "frontal", 0.0, f"lfw-{i:03d}"))
    return tuple(found)


@lru_cache(maxsize=1)
def _scenes() -> tuple[np.ndarray, ...]:
    """Real non-face pictures (a cat's face among them) from scikit-image's data, BGR."""
    names = ("coffee", "chelsea", "rocket", "brick", "grass", "gravel", "coins", "hubble_deep_field", "horse",
             "page", "text", "moon", "immunohistochemistry", "retina", "logo")
    out = []
    for name in names:
        img = np.asarray(getattr(data, name)())
        if img.dtype == bool:
            img = img.astype(np.uint8) * 255
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        out.append(cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2BGR))
    return tuple(out)


def background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A non-face scene: a crop of a real picture, a coloured noise texture or a gradient."""
    kind = rng.integers(0, 4)
    if kind <= 1:
        scenes = _scenes()
        img = scenes[rng.integers(0, len(scenes))]
        ih, iw = img.shape[:2]
        crop_w = int(rng.uniform(0.5, 1.0) * iw)
        crop_h = min(ih, int(crop_w * h / w))
        x, y = rng.integers(0, iw - crop_w + 1), rng.integers(0, ih - crop_h + 1)
        out = cv2.resize(img[y : y + crop_h, x : x + crop_w], (w, h), interpolation=cv2.INTER_LINEAR)
        return cv2.GaussianBlur(out, (0, 0), 3) if kind == 1 else out
    if kind == 2:
        cell = int(rng.integers(2, 40))
        noise = rng.integers(0, 256, (h // cell + 2, w // cell + 2, 3)).astype(np.uint8)
        return cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    ramp = np.linspace(rng.uniform(20, 120), rng.uniform(120, 240), w, dtype=np.float32)
    colour = rng.uniform(0.6, 1.0, 3).astype(np.float32)
    return np.clip(np.tile(ramp[None, :, None] * colour, (h, 1, 1)), 0, 255).astype(np.uint8)


def _patch(photo: Photo, height: float, roll: float, gain: float) -> tuple[np.ndarray, np.ndarray, Box]:
    """The face with its context scaled to `height`, rolled, lit; its alpha and face box in patch pixels."""
    fx, fy, fw, fh = photo.face
    ih, iw = photo.image.shape[:2]
    m = photo.context
    x0, y0 = max(0, int(fx - m * fw)), max(0, int(fy - m * fh))
    x1, y1 = min(iw, int(fx + fw * (1 + m))), min(ih, int(fy + fh * (1 + m)))
    scale = height / fh
    size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
    crop = cv2.resize(photo.image[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    crop = np.clip(crop.astype(np.float32) * gain, 0, 255)
    alpha = np.zeros((size[1], size[0]), np.float32)
    edge = max(1, round(min(size) * 0.06))
    alpha[edge:-edge or None, edge:-edge or None] = 1
    alpha = cv2.GaussianBlur(alpha, (0, 0), edge / 2 + 0.5)
    cx, cy = (fx + fw / 2 - x0) * scale, (fy + fh / 2 - y0) * scale
    # Rotate about the face's centre into a canvas big enough for any roll.
    side = int(np.hypot(*size)) + 2
    turn = cv2.getRotationMatrix2D((cx, cy), roll, 1.0)
    turn[:, 2] += np.array([side / 2 - cx, side / 2 - cy])
    rolled = cv2.warpAffine(crop, turn, (side, side), flags=cv2.INTER_LINEAR)
    rolled_alpha = cv2.warpAffine(alpha, turn, (side, side), flags=cv2.INTER_LINEAR)
    w, h = fw * scale, fh * scale
    return rolled, rolled_alpha, (side / 2 - w / 2, side / 2 - h / 2, w, h)


def _overlaps(a: Box, b: Box, margin: float) -> bool:
    return not (a[0] + a[2] + margin < b[0] or b[0] + b[2] + margin < a[0]
                or a[1] + a[3] + margin < b[1] or b[1] + b[3] + margin < a[1])


def _degrade(rng: np.random.Generator, frame: np.ndarray) -> np.ndarray:
    """Exposure, sensor noise, the softness of a scaled H.264 picture and JPEG's blocks."""
    out = frame.astype(np.float32) * rng.uniform(0.7, 1.25) + rng.uniform(-25, 25)
    out += rng.standard_normal(out.shape, dtype=np.float32) * np.float32(rng.uniform(0, 4))
    out = np.clip(out, 0, 255).astype(np.uint8)
    sigma = rng.uniform(0, 1.0)
    if sigma > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    ok, jpeg = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 91))])
    assert ok
    decoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    assert decoded is not None
    return np.asarray(decoded, np.uint8)


def frame(rng: np.random.Generator, bucket: str, families: tuple[str, ...], sizes: tuple[float, ...],
          rolls: tuple[float, float], faces: int) -> Frame:
    """One frame of `bucket` with up to `faces` faces from the photo `families`, each of a size from `sizes`
    (LFW crops no taller than twice their 25 px)."""
    w, h = FRAME_SHAPES[rng.integers(0, len(FRAME_SHAPES))]
    picture = background(rng, w, h).astype(np.float32)
    boxes: list[Box] = []
    names: list[str] = []
    for _ in range(faces):
        height = float(rng.choice(sizes)) * h
        # A family first, then a photo in it: 100 LFW crops must not crowd out the one astronaut.
        family = families[rng.integers(0, len(families))]
        members = [p for p in photos() if p.family == family]
        photo = members[rng.integers(0, len(members))]
        if not photo.context:
            height = min(height, 25 * LFW_MAX_UPSCALE)
        roll = rng.uniform(*rolls) * rng.choice((-1, 1))
        patch, alpha, (bx, by, bw, bh) = _patch(photo, height, roll, rng.uniform(0.6, 1.3))
        ph, pw = alpha.shape
        for _attempt in range(20):
            x, y = int(rng.integers(-pw // 4, w - 3 * pw // 4)), int(rng.integers(-ph // 4, h - 3 * ph // 4))
            box = (x + bx, y + by, bw, bh)
            inside = box[0] >= 0 and box[1] >= 0 and box[0] + bw <= w and box[1] + bh <= h
            if inside and not any(_overlaps(box, b, bh * 0.3) for b in boxes):
                break
        else:
            continue
        sx0, sy0, sx1, sy1 = max(0, -x), max(0, -y), min(pw, w - x), min(ph, h - y)
        a = alpha[sy0:sy1, sx0:sx1, None]
        region = picture[y + sy0 : y + sy1, x + sx0 : x + sx1]
        region[:] = region * (1 - a) + patch[sy0:sy1, sx0:sx1] * a
        boxes.append(box)
        names.append(photo.name)
    return Frame(bucket, _degrade(rng, picture.astype(np.uint8)), tuple(boxes), tuple(names))


FRONTAL = ("astronaut", "hopper")  # frontal faces with their head, hair and shoulders around them
TIGHT = ("lfw",)  # brow-to-chin grey crops with nothing around them: not what a face in a video looks like
PROFILE = ("cameraman",)


def labelled_set(seed: int = 2026, per_bucket: int = 40, no_face: int = 200) -> Iterator[Frame]:
    """The whole set: per size bucket frontal faces with context (roll within ±5°); tight LFW crops at 5-10 %
    (at most 50 px); rolled frontal faces (10–30°, all sizes); profiles (all sizes, roll within ±15°); 1–3 faces
    a frame; then `no_face` scenes without a face."""
    rng = np.random.default_rng(seed)
    for size in SIZES:
        for _ in range(per_bucket):
            yield frame(rng, f"{size:.0%} frontal", FRONTAL, (size,), (0, 5), int(rng.integers(1, 4)))
    for _ in range(per_bucket):
        yield frame(rng, "tight crop 5-10%", TIGHT, SIZES[:3], (0, 5), int(rng.integers(1, 4)))
    for _ in range(per_bucket):
        yield frame(rng, "roll 10-30°", FRONTAL, SIZES, (10, 30), int(rng.integers(1, 4)))
    for _ in range(per_bucket):
        yield frame(rng, "profile", PROFILE, SIZES, (0, 15), int(rng.integers(1, 4)))
    for _ in range(no_face):
        yield frame(rng, "no face", FRONTAL, SIZES, (0, 0), 0)

"""Colour decisions for render: what the source really is, and the one filter that makes it BT.709."""

from __future__ import annotations

from dataclasses import dataclass

from app.stages.validate import SourceInfo

FULL_RANGE_FORMATS = frozenset({"yuvj420p", "yuvj422p", "yuvj444p"})


@dataclass(frozen=True)
class Colorimetry:
    """Matrix, primaries, transfer (ffprobe/zscale names) and whether the range is full."""

    matrix: str
    primaries: str
    transfer: str
    full_range: bool

    @property
    def is_bt709_limited(self) -> bool:
        """Already what we deliver: tags alone are enough, no pixel is touched."""
        return (self.matrix, self.primaries, self.transfer, self.full_range) == ("bt709", "bt709", "bt709", False)


def source_colorimetry(source: SourceInfo) -> Colorimetry:
    """The source's colour, with untagged values inferred the way players infer them (by size)."""
    sd = source.height < 720
    pal = source.height in (576, 288)
    default = ("bt470bg" if pal else "smpte170m") if sd else "bt709"
    matrix = source.color_space or default
    primaries = source.color_primaries or default
    transfer = source.color_transfer or "bt709"
    if transfer in ("smpte170m", "bt470bg", "bt470m", "bt601"):
        transfer = "bt709"  # BT.601 and BT.709 share one transfer curve
    full = source.color_range == "pc" or (source.pix_fmt or "") in FULL_RANGE_FORMATS
    return Colorimetry(matrix, primaries, transfer, full)


# The dither of zscale's 8-bit output. `make bench-encode-choices`: against a 16-bit conversion of the same frames
# (a gradient and testsrc2, 640x360, BT.601 to BT.709), ordered dither comes within 0.2 dB PSNR of error diffusion
# (55.7 against 55.9 dB on the gradient, both at the limit of 8 bits and far above what the encode at CRF 18
# keeps), and costs what no dither costs, where error diffusion, serial by the pixel, made the filter 1.6 times as
# costly (1.93 CPU s against 1.18 for 6 s of 1080p).
DITHER = "ordered"


def to_bt709(c: Colorimetry, dither: str = DITHER) -> str:
    """zscale from colorimetry `c` to BT.709 limited range, with `dither`; the pixel format is the caller's."""
    return (
        f"zscale=matrixin={c.matrix}:primariesin={c.primaries}:transferin={c.transfer}:"
        f"rangein={'full' if c.full_range else 'limited'}:"
        f"matrix=bt709:primaries=bt709:transfer=bt709:range=limited:dither={dither}"
    )


def colour_filter(source: SourceInfo) -> str:
    """Filter to BT.709 limited-range yuv420p; only a format change when the source already is BT.709."""
    c = source_colorimetry(source)
    if c.is_bt709_limited:
        return "format=yuv420p" if source.pix_fmt != "yuv420p" else ""
    return f"{to_bt709(c)},format=yuv420p"

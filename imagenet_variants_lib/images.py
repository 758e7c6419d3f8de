"""Detect images that are not RGB JPEG from their header bytes, and convert only those.

ILSVRC-2012 holds 22 CMYK JPEGs and one PNG named ``.JPEG`` in train, and one CMYK JPEG in
validation (FORMATS.md, from the cytsai/ilsvrc-cmyk-image-list README used by TFDS). Ordinary
images are never decoded: the JPEG markers are walked up to the frame header (SOF), which gives
the number of colour components without touching the compressed data.
"""

from __future__ import annotations

import io
import struct

from PIL import Image

from .errors import ImageError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
# Start-of-frame markers (ITU T.81, table B.1): C0-C3, C5-C7, C9-CB, CD-CF. C4, C8, CC are not frames.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field (T.81 B.1.1.3): TEM, RSTn, SOI, EOI.
_STANDALONE = frozenset([0x01, *range(0xD0, 0xD9)])
# TFDS re-encodes these with tf.image.encode_jpeg(quality=100); 95 keeps the visual result at
# a third of the size. They are 24 images in 1.33 M.
REPAIR_QUALITY = 95


def jpeg_components(data: bytes | memoryview) -> int | None:
    """Number of colour components in a JPEG's frame header; None if ``data`` is not a readable JPEG."""
    if data[:2] != JPEG_SOI:
        return None
    pos, end = 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if marker in _SOF_MARKERS:
            return data[pos + 9] if pos + 9 < end else None
        if marker == 0xDA or length < 2:  # scan data before any frame header: broken
            return None
        pos += 2 + length
    return None


def is_rgb_jpeg(data: bytes | memoryview) -> bool:
    """True for a JPEG stored as is: 3 components (YCbCr/RGB) or 1 (grayscale, kept as TFDS keeps it)."""
    return jpeg_components(data) in (1, 3)


def to_rgb_jpeg(data: bytes, name: str = "<image>") -> bytes:
    """Decode any image PIL can open (CMYK JPEG, PNG, ...) and re-encode it as an RGB JPEG."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            rgb = img.convert("RGB")
    except Exception as exc:  # PIL raises several types for undecodable bytes
        raise ImageError(
            f"{name}: not a readable image ({type(exc).__name__}: {exc}); its first bytes are {bytes(data[:8])!r}. "
            f"Replace the file from the original ImageNet tarball, or pass skip_unreadable_images=True "
            f"(CLI: --skip-unreadable-images) to leave it out."
        ) from exc
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=REPAIR_QUALITY)
    return out.getvalue()

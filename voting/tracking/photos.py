"""Milestone photos: checked to be images, re-encoded (which drops metadata such as GPS), size-limited,
and stored under the instance folder with a random name."""
from __future__ import annotations

import io
import re
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path

from flask_babel import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import Invalid

MAX_BYTES = 10 * 1024 * 1024       # what a phone camera gives, with room to spare
MAX_PIXELS = 50_000_000            # refuse decompression bombs before decoding
MAX_SIDE = 2000                    # stored photos are scaled down to this
MAX_PHOTOS = 6                     # per milestone
ACCEPTED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP"}
FILENAME = re.compile(r"^[0-9a-f]{32}\.jpg$")


@dataclass(frozen=True)
class Photo:
    """A re-encoded JPEG, ready to store."""

    data: bytes
    width: int
    height: int


def _not_an_image(name: str) -> Invalid:
    error = Invalid(_("“%(name)s” is not a photo we can read (JPEG, PNG, WebP, GIF or BMP).", name=name),
                    "not_an_image")
    error.field = "photos"
    return error


def reencode(raw: bytes, name: str = "") -> Photo:
    """Check that `raw` is an image and re-encode it as a JPEG of at most MAX_SIDE pixels a side.

    :raises Invalid: `photo_too_large` when over MAX_BYTES or MAX_PIXELS, `not_an_image` otherwise.
    """
    if len(raw) > MAX_BYTES:
        error = Invalid(_("“%(name)s” is larger than %(mb)d MB.", name=name, mb=MAX_BYTES // 1024 // 1024),
                        "photo_too_large")
        error.field = "photos"
        raise error
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as probe:
                if probe.format not in ACCEPTED_FORMATS:
                    raise _not_an_image(name)
                if probe.width * probe.height > MAX_PIXELS:
                    error = Invalid(_("“%(name)s” has too many pixels.", name=name), "photo_too_large")
                    error.field = "photos"
                    raise error
                probe.verify()
            with Image.open(io.BytesIO(raw)) as image:
                image.load()
                image = ImageOps.exif_transpose(image)
                if image.mode in ("RGBA", "LA", "P"):
                    image = image.convert("RGBA")
                    background = Image.new("RGB", image.size, "white")
                    background.paste(image, mask=image.getchannel("A"))
                    image = background
                else:
                    image = image.convert("RGB")
                image.thumbnail((MAX_SIDE, MAX_SIDE))
                out = io.BytesIO()
                image.save(out, "JPEG", quality=85, optimize=True)
    except Invalid:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError,
            Image.DecompressionBombWarning):
        raise _not_an_image(name) from None
    return Photo(out.getvalue(), image.width, image.height)


def store(photo: Photo, folder: Path) -> str:
    """Write the photo under `folder` with a fresh random name; return the name."""
    folder.mkdir(parents=True, exist_ok=True)
    filename = secrets.token_hex(16) + ".jpg"
    (folder / filename).write_bytes(photo.data)
    return filename

"""Proposal photos: recognised by their content, size-limited, re-encoded as JPEG without metadata,
and stored with a random name where every app host finds them (`voting/storage.py`: the database,
or an object store), with the transaction that links them to their proposal or milestone.
"""
from __future__ import annotations

import io
import re
import secrets
import warnings
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy.orm import Session

from .. import storage
from ..validation import InvalidField

MAX_PHOTOS = 4
MAX_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SIDE = 1600
FORMATS = ("JPEG", "PNG", "WEBP")  # phone cameras' MPO files open as JPEG
FILENAME = re.compile(r"^[0-9a-f]{32}\.jpg$")
CONTENT_TYPE = "image/jpeg"


@dataclass(frozen=True)
class ProcessedPhoto:
    """A photo re-encoded as a JPEG, ready to store."""

    data: bytes
    width: int
    height: int


def process_photo(raw: bytes, name: str, field: str = "photos") -> ProcessedPhoto:
    """Check that `raw` is a photo and re-encode it: upright, at most MAX_SIDE a side, no EXIF.

    :raises InvalidField: `photo_too_large` over MAX_BYTES or MAX_PIXELS, `not_an_image` otherwise.
    """
    if len(raw) > MAX_BYTES:
        raise InvalidField(field, _("“%(name)s” is larger than %(mb)d MB.", name=name, mb=MAX_BYTES // 2**20),
                           "photo_too_large")
    not_an_image = InvalidField(
        field, _("“%(name)s” is not a photo we can read (JPEG, PNG or WebP).", name=name), "not_an_image"
    )
    too_large = InvalidField(
        field, _("“%(name)s” has more than %(mp)d megapixels.", name=name, mp=MAX_PIXELS // 10**6),
        "photo_too_large",
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw), formats=FORMATS) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise too_large
                image.load()
                upright = ImageOps.exif_transpose(image)
                if upright.mode in ("RGBA", "LA", "P", "PA"):
                    rgba = upright.convert("RGBA")
                    upright = Image.new("RGB", rgba.size, "white")
                    upright.paste(rgba, mask=rgba.getchannel("A"))
                else:
                    upright = upright.convert("RGB")
                upright.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
                out = io.BytesIO()
                upright.save(out, "JPEG", quality=85, optimize=True)  # no exif= given: none is written
    except InvalidField:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_large from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise not_an_image from None
    return ProcessedPhoto(out.getvalue(), upright.width, upright.height)


def legacy_folder() -> Path:
    """Where releases before the stored photos kept them: `UPLOAD_FOLDER` if configured, else
    `instance/uploads` (read by `voting photos import`, never written)."""
    return Path(current_app.config.get("UPLOAD_FOLDER") or Path(current_app.instance_path) / "uploads")


def is_photo_name(filename: str) -> bool:
    """Whether `filename` is a name this pipeline gives (32 hex digits and `.jpg`)."""
    return FILENAME.fullmatch(filename or "") is not None


def is_jpeg(data: bytes) -> bool:
    """Whether `data` starts and ends as a JPEG does (what `process_photo` wrote)."""
    return data[:3] == b"\xff\xd8\xff" and data.rstrip(b"\0")[-2:] == b"\xff\xd9"


def store_photo(session: Session, photo: ProcessedPhoto) -> str:
    """Store the photo under a new random name with the session's transaction; its name."""
    filename = secrets.token_hex(16) + ".jpg"
    storage.put(session, filename, photo.data, CONTENT_TYPE)
    return filename


def load_photo(session: Session, filename: str) -> storage.Blob | None:
    """The stored photo `filename`, or None for a name that is not one of ours or not stored."""
    return storage.get(session, filename) if is_photo_name(filename) else None

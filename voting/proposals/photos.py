"""Proposal photos: recognised by their content, size-limited, re-encoded as JPEG without metadata,
stored under `instance/uploads/` with a random name, and removed again if the transaction that
stored them does not commit.
"""
from __future__ import annotations

import io
import os
import re
import secrets
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import event
from sqlalchemy.orm import Session

from ..validation import InvalidField

MAX_PHOTOS = 4
MAX_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SIDE = 1600
FORMATS = ("JPEG", "PNG", "WEBP")  # phone cameras' MPO files open as JPEG
FILENAME = re.compile(r"^[0-9a-f]{32}\.jpg$")
_NEW_FILES = "voting.proposals.new_files"


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


def upload_folder() -> Path:
    """Where photos live: `UPLOAD_FOLDER` if configured, else `instance/uploads`."""
    folder = Path(current_app.config.get("UPLOAD_FOLDER") or Path(current_app.instance_path) / "uploads")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def photo_path(filename: str) -> Path | None:
    """The stored file for `filename`, or None for anything that is not one of our names."""
    if not FILENAME.fullmatch(filename or ""):
        return None
    return upload_folder() / filename


def store_photo(session: Session, photo: ProcessedPhoto) -> str:
    """Write the photo under a new random name; the file goes again if the transaction rolls back."""
    folder = upload_folder()
    filename = secrets.token_hex(16) + ".jpg"
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(photo.data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, folder / filename)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    session.info.setdefault(_NEW_FILES, []).append(folder / filename)
    return filename


@event.listens_for(Session, "after_commit")
def _keep_new_files(session: Session) -> None:
    session.info.pop(_NEW_FILES, None)


@event.listens_for(Session, "after_transaction_end")
def _discard_uncommitted_files(session: Session, transaction) -> None:
    if transaction.parent is not None:
        return
    for path in session.info.pop(_NEW_FILES, []):
        path.unlink(missing_ok=True)

"""Uploaded files, kept where every app host finds them.

By default the bytes live in the database (`stored_file`), so any host serves them and
`voting backup` includes them. With `VOTING_PHOTO_STORE=s3://bucket[/prefix]` new files go to an
S3-compatible object store (boto3, the optional extra `voting[s3]`; endpoint from
`VOTING_PHOTO_STORE_ENDPOINT`, credentials from the usual `AWS_*` variables) and the database keeps
their row without the bytes. A row's `data` says where it is: present, in the database; NULL, in
the object store. A file is written with the transaction that links it to its owner: a row goes
with the rollback, and an object written for a transaction that does not commit is deleted again.

This module knows no feature: the photo pipeline (`voting/proposals/photos.py`) names the files
and the views decide who may see them.
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flask import current_app, request
from sqlalchemy import CheckConstraint, LargeBinary, String, event, select
from sqlalchemy.orm import Mapped, Session, deferred, mapped_column, undefer

from .config import parse_photo_store
from .database import utcnow
from .extensions import db

log = logging.getLogger(__name__)
_NEW_OBJECTS = "voting.storage.new_objects"
_STORE = "voting.storage.object_store"


class StoredFile(db.Model):
    """One uploaded file: its name, type, size and digest, and its bytes unless an object store holds them."""

    __tablename__ = "stored_file"
    __table_args__ = (
        CheckConstraint("size >= 0", name="size_not_negative"),
        CheckConstraint("length(sha256) = 64", name="sha256_hex"),
        CheckConstraint("data IS NULL OR length(data) = size", name="data_is_whole"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))  # NULL: in the object store
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class Blob:
    """A stored file read back, ready to send."""

    name: str
    content_type: str
    sha256: str
    created_at: datetime
    data: bytes


class ObjectStore:
    """An S3-compatible bucket (AWS S3, MinIO, Ceph, OSS/COS in S3 mode), under an optional key prefix."""

    def __init__(self, url: str, endpoint_url: str | None = None, client=None):
        where = parse_photo_store(url)
        if where is None:
            raise ValueError("an object store needs an s3:// address")
        self.bucket, self.prefix = where
        if client is None:
            try:
                import boto3  # the optional extra `voting[s3]`: loaded only when a bucket is configured
            except ImportError:
                raise RuntimeError("VOTING_PHOTO_STORE names a bucket: install boto3 (pip install 'voting[s3]')") from None
            client = boto3.client("s3", endpoint_url=endpoint_url or None)
        self.client = client

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def put(self, name: str, data: bytes, content_type: str, sha256: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.key(name), Body=data, ContentType=content_type,
                               Metadata={"sha256": sha256})

    def get(self, name: str) -> bytes | None:
        """The object's bytes, or None when the bucket has no such object."""
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key(name))
        except self.client.exceptions.NoSuchKey:
            return None
        with answer["Body"] as body:
            return body.read()

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(name))


def object_store() -> ObjectStore | None:
    """The app's object store, or None when files go to the database (built once per app)."""
    app = current_app._get_current_object()
    if _STORE not in app.extensions:
        url = app.config.get("PHOTO_STORE")
        app.extensions[_STORE] = (ObjectStore(url, app.config.get("PHOTO_STORE_ENDPOINT"))
                                  if parse_photo_store(url) else None)
    return app.extensions[_STORE]


def put(session: Session, name: str, data: bytes, content_type: str) -> StoredFile:
    """Store `data` under the new name `name` with the session's transaction; flushed.

    Into the object store when one is configured (and deleted from it again if the transaction
    does not commit), else into the database.
    """
    digest = hashlib.sha256(data).hexdigest()
    row = StoredFile(name=name, content_type=content_type, size=len(data), sha256=digest, created_at=utcnow())
    store = object_store()
    if store is None:
        row.data = data
    else:
        store.put(name, data, content_type, digest)
        session.info.setdefault(_NEW_OBJECTS, []).append((store, name))
    session.add(row)
    session.flush()
    return row


def get(session: Session, name: str) -> Blob | None:
    """The stored file `name` with its bytes, or None if there is none."""
    row = session.scalar(select(StoredFile).where(StoredFile.name == name).options(undefer(StoredFile.data)))
    if row is None:
        return None
    data = row.data
    if data is None:
        store = object_store()
        if store is None:
            raise LookupError(f"{name} is in an object store, and VOTING_PHOTO_STORE names none")
        data = store.get(name)
        if data is None:
            return None
    return Blob(row.name, row.content_type, row.sha256, row.created_at, data)


def stored_names(session: Session, names: Iterable[str]) -> set[str]:
    """Those of `names` that are stored."""
    names = list(names)
    found: set[str] = set()
    for start in range(0, len(names), 500):
        found |= set(session.scalars(select(StoredFile.name).where(StoredFile.name.in_(names[start:start + 500]))))
    return found


def send(blob: Blob, *, public: bool, max_age: int = 0):
    """An answer carrying the file, inline, never sniffed, answering a conditional GET with 304.

    A public file may be kept by any cache for `max_age` seconds; any other is kept by none
    (`no-store`), so the access rules are asked again every time.
    """
    response = current_app.response_class(blob.data, mimetype=blob.content_type)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Disposition"] = "inline"
    if public:
        response.set_etag(blob.sha256)
        response.last_modified = blob.created_at.replace(tzinfo=UTC)
        response.cache_control.public = True
        response.cache_control.max_age = max_age
    else:
        response.cache_control.private = True
        response.cache_control.no_store = True
    return response.make_conditional(request)


@dataclass(frozen=True)
class ImportReport:
    imported: list[str]
    already_stored: int
    missing: list[str]  # wanted, but neither stored nor in the folder


def import_folder(session: Session, folder: Path, wanted: Iterable[str], content_type: str,
                  is_valid=lambda data: True) -> ImportReport:
    """Store the files of `folder` whose names are `wanted` and not yet stored; commit after each.

    Safe to run again (and on every host that kept files): a stored name is never written twice.
    A file that `is_valid` refuses counts as missing.
    """
    wanted = sorted(set(wanted))
    already = stored_names(session, wanted)
    imported, missing = [], []
    for name in wanted:
        if name in already:
            continue
        path = folder / name
        data = path.read_bytes() if path.is_file() else None
        if data is None or not is_valid(data):
            missing.append(name)
            continue
        put(session, name, data, content_type)
        session.commit()
        imported.append(name)
    return ImportReport(imported, len(already), missing)


@event.listens_for(Session, "after_commit")
def _keep_new_objects(session: Session) -> None:
    session.info.pop(_NEW_OBJECTS, None)


@event.listens_for(Session, "after_transaction_end")
def _delete_uncommitted_objects(session: Session, transaction) -> None:
    if transaction.parent is not None:
        return
    for store, name in session.info.pop(_NEW_OBJECTS, []):
        try:
            store.delete(name)
        except Exception:  # the rollback stands; an object no row names is never served
            log.warning("could not delete the uncommitted object %s from the photo store", store.key(name),
                        exc_info=True)

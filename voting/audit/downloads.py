"""Downloads of the audit pages: a body that streams after its view has ended, written to the
action log once it has been served.

The server sends a body after the request: by then the view's transaction is committed, its app
context torn down and its database session closed, and the view's ORM objects are detached (the
voter roll answered 500 on every real server, reading its cycle's id from one). So a body is made
of plain values the view hands it (an id, the frozen `RecordHeader`) and reads through `db.session`
(the scoped session, not the view's session object): `stream_with_context` brings the request's
context back while the body runs, and with it a session of the body's own, which Flask closes
when the body ends.

The download is logged when the body has been produced, not before: a body that fails (an error,
the 500 above) or a client that goes away midway (the server closes the generator) leaves no
entry. The entry gets a short transaction of its own, committed and retried on conflicts like
every `@transactional` one, chained to the head of the log as every entry is: a long-running
body's read transaction would otherwise hold, or lose, the log's lock. It is committed before the
last chunk leaves, so that no complete file leaves without its entry; when the entry cannot be
written, the last chunk is never sent (an HTTP/1.1 client sees the transfer broken off, and a
record its END row missing). Only a connection lost while that last chunk is sent leaves an entry
for a file the client did not get whole: of the two possible errors, the action log takes the one
that names a download too many, never one too few.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from flask import Response, stream_with_context

from ..accounts.models import User
from ..database import transactional
from ..extensions import db
from ..geography.models import Community
from .services import log_action


@dataclass(frozen=True)
class DownloadLog:
    """The action log entry a download gets once it has been served, in plain values (the view's
    user and community are detached by the time the body ends)."""

    action: str
    actor_id: int
    community_id: int | None = None
    detail: dict = field(default_factory=dict)


def download(chunks: Iterable[str | bytes], mimetype: str, name: str, logged: DownloadLog | None) -> Response:
    """A response that sends `chunks` (text as UTF-8) as the attachment `name`, and writes `logged`
    (unless None) to the action log once the body has been produced. Call it in the view."""
    body = stream_with_context(_served(chunks, logged))
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f"attachment; filename={name}"})


def _served(chunks: Iterable[str | bytes], logged: DownloadLog | None) -> Iterator[bytes]:
    """The chunks as bytes, holding the last one back until the download is in the log."""
    last = None
    for chunk in chunks:
        if last is not None:
            yield last
        last = chunk.encode("utf-8") if isinstance(chunk, str) else chunk
    if logged is not None:
        db.session.rollback()  # the body's reads end here; the entry gets a transaction of its own
        _write(logged)
    if last is not None:
        yield last


@transactional
def _write(logged: DownloadLog) -> None:
    """Append the served download to the action log, with the actor and community read again."""
    community = db.session.get(Community, logged.community_id) if logged.community_id is not None else None
    log_action(db.session, db.session.get(User, logged.actor_id), logged.action, community, **logged.detail)

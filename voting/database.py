"""The transaction pattern shared by every feature, and the database's connection settings.

One transaction per request: a view that changes state is wrapped in `@transactional`. It runs the
view, commits once at the end, rolls back on any error, and re-runs the whole view when the
database reports a transient conflict (PostgreSQL serialisation failure or deadlock, SQLite busy).
Services never commit; they flush and raise named errors.

SQLite runs in WAL mode with `synchronous=FULL`, foreign keys on and a busy timeout. When its
transaction takes the write lock is decided by the view's declaration, never by the HTTP method:
- `@transactional`: at BEGIN. The transaction first takes an exclusive lock on
  `<database>-writers.lock` (`flock`, released when its connection goes back to the pool, i.e.
  right after the commit or rollback), so writers of every process wake in turn instead of polling
  in SQLite's busy handler, then begins `BEGIN IMMEDIATE`, so two writers queue instead of failing
  when a reader upgrades to a writer.
- `@reads_before_lock` on a `@transactional` view (casting a ballot, an API token's sign-in, the
  first count): at its first write. Until then each read is a transaction of its own, so the
  sign-in, the checks and the response hold no other writer up; the view must re-read, after that
  write, whatever its writes depend on.
- any other view, GET or POST: a plain `BEGIN`, and a write in it raises `UndeclaredWrite` (a
  write in a read transaction would upgrade it outside the writers' queue, and fail when another
  writer committed first). A `@transactional` function that runs outside its request's view (a
  download's action log entry, written once the body has been served) takes the lock at BEGIN.
`declared_lock(view)` answers which of the three a view declares.
"""
from __future__ import annotations

import fcntl
import functools
import os
import random
import re
import time
from contextvars import ContextVar
from datetime import UTC, datetime

from flask import current_app, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from .extensions import db

RETRIES = 8
_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected
NOW, AT_FIRST_WRITE = "now", "at_first_write"  # when a declared view's SQLite transaction takes its lock
# The lock of the innermost `@transactional` function running (its transactions begin with it).
_running: ContextVar[str | None] = ContextVar("running_transaction", default=None)


class UndeclaredWrite(RuntimeError):
    """A statement that writes, in a request whose view is not declared `@transactional`."""


def utcnow() -> datetime:
    """The current time in UTC, without tzinfo (how every timestamp is stored)."""
    return datetime.now(UTC).replace(tzinfo=None)


def configure_engine(engine: Engine) -> None:
    """Apply the per-connection settings of the engine's dialect."""
    if engine.dialect.name != "sqlite":
        return
    database = engine.url.database
    lock_path = f"{database}-writers.lock" if database and database != ":memory:" else None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, record):
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=30000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()
        if lock_path:
            record.info["writers_lock"] = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        match _write_lock():
            case None:
                connection.exec_driver_sql("BEGIN")
                if has_request_context() and request.endpoint in current_app.view_functions:
                    connection.info["reads_only"] = request._get_current_object()
            case "at_first_write":  # until then each read is a transaction of its own
                connection.info["lock_at_first_write"] = True
            case "now":
                begin_writing(connection.info, connection.connection.driver_connection)

    @event.listens_for(engine, "before_cursor_execute")
    def _before_execute(connection, cursor, statement, _parameters, _context, _executemany):
        lock_at_first_write(connection.info, cursor, statement)

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(connection):
        connection.info.pop("lock_at_first_write", None)
        connection.info.pop("reads_only", None)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection, record):
        record.info.pop("lock_at_first_write", None)
        record.info.pop("reads_only", None)
        if (lock := record.info.get("writers_lock")) is not None:
            fcntl.flock(lock, fcntl.LOCK_UN)

    @event.listens_for(engine, "close")
    def _on_close(_dbapi_connection, record):
        if (lock := record.info.pop("writers_lock", None)) is not None:
            os.close(lock)


_READS = re.compile(r"\s*(SELECT|PRAGMA)\b", re.IGNORECASE)


def begin_writing(info: dict, cursor) -> None:
    """Begin SQLite's write transaction. Writers queue on a file lock first: the one waiting wakes
    the moment the lock is free, where SQLite's busy handler would poll with sleeps of up to 100 ms
    (a long tail under load)."""
    if (lock := info.get("writers_lock")) is not None:
        fcntl.flock(lock, fcntl.LOCK_EX)
    cursor.execute("BEGIN IMMEDIATE")


def lock_at_first_write(info: dict, cursor, statement: str) -> None:
    """Before each statement: begin writing if the transaction waits for its first write and this
    is one.

    :raises UndeclaredWrite: for a write in the read transaction of a view not declared writing.
    """
    if _READS.match(statement):
        return
    # Only in the request that began it: a test's client may leave a transaction to the next request.
    reader = info.get("reads_only")
    if reader is not None and has_request_context() and request._get_current_object() is reader:
        raise UndeclaredWrite(f"{request.endpoint} writes ({statement.split(None, 1)[0]}) but is not declared "
                              f"@transactional: SQLite's write lock would not be taken (voting/database.py)")
    if info.pop("lock_at_first_write", False):
        begin_writing(info, cursor)


def reads_before_lock(view):
    """Mark a `@transactional` view (above that decorator) whose reads may run before SQLite's
    write lock, which it takes at its first write. Only for views that re-read, after that first
    write, whatever their writes depend on and another request could have changed in between
    (see `cast_ballot`).

    :raises TypeError: when the view is not `@transactional`.
    """
    transaction = getattr(view, "transaction", None)
    if transaction is None:
        raise TypeError(f"@reads_before_lock on {view.__qualname__}, which is not @transactional under it")
    transaction.write_lock = view.write_lock = AT_FIRST_WRITE
    return view


def declared_lock(view) -> str | None:
    """When a request to `view` takes SQLite's write lock: `NOW` (at BEGIN), `AT_FIRST_WRITE`, or None
    for a view not declared writing (which may not write)."""
    return getattr(view, "write_lock", None)


def _write_lock() -> str | None:
    """When the transaction beginning takes SQLite's write lock: as the `@transactional` function
    running declares, else as the request's view declares (a transaction can begin before the view,
    with the sign-in of `deny_by_default`); None outside any."""
    if (running := _running.get()) is not None:
        return running
    if has_request_context() and request.endpoint:
        return declared_lock(current_app.view_functions.get(request.endpoint))
    return None


def is_retryable(error: DBAPIError) -> bool:
    """Whether the error is a transient conflict that a fresh attempt may not meet (including a new
    ballot's random receipt code that happens to equal an earlier one)."""
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate in _RETRYABLE_SQLSTATES:
        return True
    if isinstance(error, IntegrityError):
        constraint = getattr(getattr(error.orig, "diag", None), "constraint_name", None)
        return constraint == "uq_ballot_receipt" or "UNIQUE constraint failed: ballot.receipt" in str(error.orig)
    return isinstance(error, OperationalError) and "database is locked" in str(error.orig)


def transactional(view):
    """Run a state-changing view in one transaction, committed once, retried on conflicts; on
    SQLite it takes the write lock at BEGIN (or at its first write: `reads_before_lock`)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        running = _running.set(wrapper.write_lock)
        try:
            for attempt in range(RETRIES):
                try:
                    response = view(*args, **kwargs)
                    db.session.commit()
                    return response
                except DBAPIError as error:
                    db.session.rollback()
                    if not is_retryable(error) or attempt == RETRIES - 1:
                        raise
                    time.sleep(random.uniform(0, 0.01 * 2**attempt))
                except BaseException:
                    db.session.rollback()
                    raise
            raise AssertionError("unreachable")
        finally:
            _running.reset(running)

    wrapper.write_lock = NOW
    wrapper.transaction = wrapper  # copied by `functools.wraps` to the decorators above: `reads_before_lock`
    return wrapper

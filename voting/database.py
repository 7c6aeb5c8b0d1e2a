"""The transaction pattern shared by every feature, and the database's connection settings.

One transaction per request: a view that changes state is wrapped in `@transactional`. It runs the
view, commits once at the end, rolls back on any error, and re-runs the whole view when the
database reports a transient conflict (PostgreSQL serialisation failure or deadlock, SQLite busy).
Services never commit; they flush and raise named errors.

SQLite runs in WAL mode with `synchronous=FULL`, foreign keys on and a busy timeout; the
transaction of a request that may write (any method but GET, HEAD, OPTIONS) starts with
`BEGIN IMMEDIATE`, so two writers queue instead of failing when a reader upgrades to a writer.
Such a request first takes an exclusive lock on `<database>-writers.lock` (`flock`, released
when its connection goes back to the pool, i.e. right after the commit or rollback), so writers
of every process wake in turn instead of polling in SQLite's busy handler. A view marked
`@reads_before_lock` (casting a ballot) reads without either lock and takes both at its first
write: the sign-in, the checks and the response no longer hold every other writer up.
"""
from __future__ import annotations

import fcntl
import functools
import os
import random
import re
import time
from datetime import UTC, datetime

from flask import current_app, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from .extensions import db

RETRIES = 8
_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected


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

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection, record):
        record.info.pop("lock_at_first_write", None)
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
    """Before each statement: begin writing if the transaction waits for its first write and this is one."""
    if info.get("lock_at_first_write") and not _READS.match(statement):
        del info["lock_at_first_write"]
        begin_writing(info, cursor)


def reads_before_lock(view):
    """Mark a writing view whose reads may run before SQLite's write lock, which it takes at its
    first write. Only for views that re-read, after that first write, whatever their writes depend
    on and another request could have changed in between (see `cast_ballot`)."""
    view.reads_before_lock = True
    return view


def _write_lock() -> str | None:
    """When a request's SQLite transaction takes the write lock: None for a request that does not
    change state (GET, HEAD, OPTIONS), "at_first_write" for a view marked `@reads_before_lock`,
    else "now"."""
    if not has_request_context() or request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    view = current_app.view_functions.get(request.endpoint)
    return "at_first_write" if getattr(view, "reads_before_lock", False) else "now"


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
    """Run a state-changing view in one transaction, committed once, retried on conflicts."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
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

    return wrapper

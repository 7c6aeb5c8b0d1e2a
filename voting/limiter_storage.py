"""Rate-limit counters in a database: a `limits` storage, so that Flask-Limiter stays the one
mechanism and counts once per deployment without Redis (every limit of the app, not only sign-in's).

The storage URI is `database+<SQLAlchemy URL>` (`config.limiter_storage_uri` derives it):
- on PostgreSQL, the app's own database: the `rate_limit` table (migration 0015), shared by every
  worker of every host;
- on SQLite, a file of its own beside the database (`<database>-limits`), shared by every worker of
  the host (the only host: SQLite is one machine's file). Not the app's file: a counter written while
  the request's own transaction holds the app's write lock (a `@transactional` view, `database.py`)
  would wait for that transaction, which waits for the counter.

Each operation is one statement on a short connection of the storage's own engine, in autocommit:
never inside the request's transaction, never holding a lock through the password hash. A hit is an
atomic upsert (`INSERT … ON CONFLICT DO UPDATE … RETURNING`) on both databases: the counter restarts
when its window has passed. Expired rows are deleted by the writes, at most once every
`prune_every` seconds per process.
"""
from __future__ import annotations

import hashlib
import os
import threading
import time

from limits.storage import Storage
from sqlalchemy import Column, Float, Integer, String, Table, case, create_engine, delete, event, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.schema import CreateIndex, CreateTable

from .extensions import db

PREFIX = "database+"
KEY_LENGTH = 255

rate_limit = Table(
    "rate_limit", db.metadata,
    Column("key", String(KEY_LENGTH), primary_key=True),
    Column("hits", Integer, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),  # seconds since the epoch
)


def bounded_key(key: str) -> str:
    """The key as stored: a longer one keeps its start and gains its hash (still one per key)."""
    if len(key) <= KEY_LENGTH:
        return key
    return key[:KEY_LENGTH - 65] + "#" + hashlib.sha256(key.encode()).hexdigest()


class DatabaseStorage(Storage):
    """Fixed-window counters in a `rate_limit` table (the strategy Flask-Limiter uses by default)."""

    STORAGE_SCHEME = [PREFIX + "sqlite", PREFIX + "postgresql", PREFIX + "postgresql+psycopg"]

    def __init__(self, uri: str, wrap_exceptions: bool = False, prune_every: float = 60.0, **options) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.url = uri.removeprefix(PREFIX)
        self.prune_every = float(prune_every)
        self._engine: Engine | None = None
        self._pid = None
        self._pruned_at = 0.0
        self._lock = threading.Lock()

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def engine(self) -> Engine:
        """This process's engine, made at first use (a forked worker never shares its parent's)."""
        with self._lock:
            if self._engine is None or self._pid != os.getpid():
                if self._engine is not None:
                    self._engine.dispose(close=False)
                self._engine = _make_engine(self.url)
                self._pid = os.getpid()
            return self._engine

    def dispose(self) -> None:
        """Close this process's connections (a test throws its app away with its storage)."""
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        insert = (postgresql.insert if self.url.startswith("postgresql") else sqlite.insert)(rate_limit)
        expired = rate_limit.c.expires_at <= now
        statement = insert.values(key=bounded_key(key), hits=amount, expires_at=now + expiry).on_conflict_do_update(
            index_elements=[rate_limit.c.key],
            set_={"hits": case((expired, amount), else_=rate_limit.c.hits + amount),
                  "expires_at": case((expired, now + expiry), else_=rate_limit.c.expires_at)},
        ).returning(rate_limit.c.hits)
        with self.engine().connect() as connection:
            hits = connection.execute(statement).scalar_one()
            if now - self._pruned_at >= self.prune_every:
                self._pruned_at = now
                connection.execute(delete(rate_limit).where(rate_limit.c.expires_at <= now))
        return hits

    def _current(self, key: str):
        with self.engine().connect() as connection:
            return connection.execute(select(rate_limit.c.hits, rate_limit.c.expires_at).where(
                rate_limit.c.key == bounded_key(key), rate_limit.c.expires_at > time.time())).first()

    def get(self, key: str) -> int:
        row = self._current(key)
        return row.hits if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._current(key)
        return row.expires_at if row else time.time()

    def check(self) -> bool:
        try:
            with self.engine().connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            return False

    def reset(self) -> int | None:
        with self.engine().connect() as connection:
            return connection.execute(delete(rate_limit)).rowcount

    def clear(self, key: str) -> None:
        with self.engine().connect() as connection:
            connection.execute(delete(rate_limit).where(rate_limit.c.key == bounded_key(key)))


def _make_engine(url: str) -> Engine:
    if not url.startswith("sqlite"):
        # One connection per worker at a time (a sync worker serves one request); see docs/deploy.md.
        return create_engine(url, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0, pool_timeout=10,
                             pool_pre_ping=True, pool_recycle=1800)
    engine = create_engine(url, isolation_level="AUTOCOMMIT")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        # Counters, not records: NORMAL may lose the last hits to a power cut, never corrupts the file.
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    with engine.connect() as connection:  # the file is the storage's own: no migration makes it
        connection.execute(CreateTable(rate_limit, if_not_exists=True))
        for index in rate_limit.indexes:
            connection.execute(CreateIndex(index, if_not_exists=True))
    return engine

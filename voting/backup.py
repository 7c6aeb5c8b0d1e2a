"""Backups of the database: SQLite's online backup API, or pg_dump/pg_restore for PostgreSQL.

On PostgreSQL the backup holds the `public` schema, where every table of the app lives: not the
extensions or other schemas an operator may have added to the database, which a restore by the
app's own (non-superuser) role could not drop and re-create.
"""
from __future__ import annotations

import shutil
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    """The backup or restore could not be done; the message says why."""


def backup(database_url: str, path: Path) -> None:
    """Write a consistent copy of the database to `path` while the service keeps running."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        _sqlite_copy(Path(url.database), path)
    else:
        _run(["pg_dump", "--format=custom", "--no-owner", "--schema=public", f"--file={path}", _libpq(url)])


def restore(database_url: str, path: Path) -> None:
    """Replace the database's contents with the backup at `path` (stop the service first)."""
    if not path.is_file():
        raise BackupError(f"{path} is not a backup file")
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        _check_sqlite(path)
        target = Path(url.database)
        try:
            _sqlite_copy(path, target)
        except BackupError:
            if _sqlite_opens(target):
                raise
            # SQLite cannot open the database at all (a damaged first page, a truncated file): the
            # case a restore is for. Replace the file, and drop its WAL, which would be replayed
            # onto the new file, and the WAL's index.
            for damaged in (target, *(target.with_name(target.name + end) for end in ("-wal", "-shm"))):
                damaged.unlink(missing_ok=True)
            _sqlite_copy(path, target)
    else:
        _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction",
              f"--dbname={_libpq(url)}", str(path)])


def _sqlite_copy(source: Path, target: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    except sqlite3.Error as error:
        raise BackupError(f"SQLite backup failed: {error}") from None
    finally:
        dst.close()
        src.close()


def _check_sqlite(path: Path) -> None:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            result = conn.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError:
        raise BackupError(f"{path} is not an SQLite database") from None
    if result != "ok":
        raise BackupError(f"{path} fails SQLite's integrity check: {result}")


def _sqlite_opens(path: Path) -> bool:
    """Whether the database at `path` is whole: False only when SQLite finds it damaged or not a
    database at all (never for a locked or missing file)."""
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            return conn.execute("PRAGMA quick_check").fetchall() == [("ok",)]
    except sqlite3.DatabaseError as error:
        return error.sqlite_errorcode not in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _libpq(url) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _run(argv: list[str]) -> None:
    if shutil.which(argv[0]) is None:
        raise BackupError(f"{argv[0]} is not installed (apt-get install postgresql-client)")
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{argv[0]} failed: {done.stderr.strip()[-500:]}")

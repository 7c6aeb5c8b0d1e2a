"""Backups of the whole database: SQLite's online backup API, or pg_dump/pg_restore for PostgreSQL."""
from __future__ import annotations

import shutil
import sqlite3
import subprocess
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
        _run(["pg_dump", "--format=custom", "--no-owner", f"--file={path}", _libpq(url)])


def restore(database_url: str, path: Path) -> None:
    """Replace the database's contents with the backup at `path` (stop the service first)."""
    if not path.is_file():
        raise BackupError(f"{path} is not a backup file")
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        _check_sqlite(path)
        _sqlite_copy(path, Path(url.database))
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


def _libpq(url) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _run(argv: list[str]) -> None:
    if shutil.which(argv[0]) is None:
        raise BackupError(f"{argv[0]} is not installed (apt-get install postgresql-client)")
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{argv[0]} failed: {done.stderr.strip()[-500:]}")

"""Typed settings, read once from the environment and passed to the app factory."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from limits import parse_many
from sqlalchemy.engine import make_url

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """What the service needs to know about its surroundings (SPEC §5, Configuration)."""

    database_url: str
    secret_key: str
    redis_url: str | None
    ratelimit_enabled: bool
    proxy_count: int = 0
    # Earlier keys during a rotation: sessions they signed, ID numbers they hashed and votes whose voter
    # codes they made still work (the vote's chain head names its key); new ones use `secret_key`.
    secret_key_fallbacks: tuple[str, ...] = ()
    token_lifetime_hours: int = 12
    # PostgreSQL connections kept per worker process (a sync gunicorn worker uses one at a time), and
    # how many more it may open at a peak; see docs/deploy.md for sizing across hosts.
    db_pool_size: int = 2
    db_max_overflow: int = 3
    # The slow limit of failed sign-ins to one account from all addresses (`accounts/limits.py`).
    sign_in_failures_per_account: str | None = None
    # Where uploaded photos go: None for the database, or "s3://bucket[/prefix]" (voting/storage.py),
    # with the object store's endpoint (None: AWS itself); credentials from the usual AWS_* variables.
    photo_store: str | None = None
    photo_store_endpoint: str | None = None

    @classmethod
    def from_env(cls, instance_path: Path, environ=os.environ) -> "Settings":
        """Read the settings; create the instance folder and its secret key on first run."""
        instance_path.mkdir(parents=True, exist_ok=True)
        default_db = f"sqlite:///{instance_path / 'voting.sqlite3'}"
        return cls(
            database_url=environ.get("VOTING_DATABASE_URL") or default_db,
            secret_key=environ.get("VOTING_SECRET_KEY") or _stored_secret(instance_path / "secret_key"),
            secret_key_fallbacks=tuple(environ.get("VOTING_SECRET_KEY_FALLBACKS", "").replace(",", " ").split()),
            redis_url=environ.get("VOTING_REDIS_URL") or None,
            ratelimit_enabled=environ.get("VOTING_RATELIMIT_ENABLED", "true").strip().lower() in _TRUE,
            proxy_count=int(environ.get("VOTING_PROXY_COUNT") or 0),
            db_pool_size=int(environ.get("VOTING_DB_POOL_SIZE") or 2),
            db_max_overflow=int(environ.get("VOTING_DB_MAX_OVERFLOW") or 3),
            sign_in_failures_per_account=_rate_limit(environ.get("VOTING_SIGN_IN_FAILURES_PER_ACCOUNT")),
            photo_store=_photo_store(environ.get("VOTING_PHOTO_STORE")),
            photo_store_endpoint=environ.get("VOTING_PHOTO_STORE_ENDPOINT") or None,
        )

    def flask_config(self) -> dict:
        """The Flask and extension settings derived from these settings."""
        engine_options = {}
        if self.database_url.startswith("postgresql"):  # a file has no connection to lose: no ping for SQLite
            engine_options.update(pool_pre_ping=True, pool_size=self.db_pool_size, max_overflow=self.db_max_overflow,
                                  pool_timeout=10, pool_recycle=1800)
        limits = {"SIGN_IN_FAILURES_PER_ACCOUNT": self.sign_in_failures_per_account}  # else limits.py's own
        return {name: value for name, value in limits.items() if value} | {
            "SECRET_KEY": self.secret_key,
            "SECRET_KEY_FALLBACKS": list(self.secret_key_fallbacks),
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
            "RATELIMIT_ENABLED": self.ratelimit_enabled,
            "RATELIMIT_STORAGE_URI": self.redis_url or limiter_storage_uri(self.database_url),
            "RATELIMIT_HEADERS_ENABLED": True,
            "TOKEN_LIFETIME_HOURS": self.token_lifetime_hours,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "REMEMBER_COOKIE_HTTPONLY": True,
            "REMEMBER_COOKIE_SAMESITE": "Lax",
            "WTF_CSRF_TIME_LIMIT": None,
            "BABEL_DEFAULT_LOCALE": "zh_CN",
            "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
            "MAX_CONTENT_LENGTH": 40 * 1024 * 1024,  # four phone photos of 8 MB and the form
            # a confirmed registry import posts the previewed file back in a form field (base64)
            "MAX_FORM_MEMORY_SIZE": 16 * 1024 * 1024,
            "PHOTO_STORE": self.photo_store,
            "PHOTO_STORE_ENDPOINT": self.photo_store_endpoint,
        }


def parse_photo_store(value: str | None) -> tuple[str, str] | None:
    """(bucket, key prefix) of `s3://bucket[/prefix]`; None for the database (unset or `database`).

    :raises ValueError: for anything else.
    """
    if not value or value.strip() == "database":
        return None
    parts = urlsplit(value.strip())
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"VOTING_PHOTO_STORE must be 'database' or s3://bucket[/prefix], not {value!r}")
    return parts.netloc, parts.path.strip("/")


def _photo_store(value: str | None) -> str | None:
    return value.strip() if parse_photo_store(value) else None


def secret_keys(config) -> list[str]:
    """The app's keys, the current one first, then the fallbacks of a rotation."""
    return [config["SECRET_KEY"], *config.get("SECRET_KEY_FALLBACKS", ())]


def limiter_storage_uri(database_url: str) -> str:
    """Where the rate limits count without Redis (`limiter_storage.py`): PostgreSQL's own database;
    beside a SQLite database, a file of their own; in memory for a database in memory."""
    if database_url.startswith("sqlite"):
        path = make_url(database_url).database
        return f"database+sqlite:///{path}-limits" if path and path != ":memory:" else "memory://"
    return "database+" + database_url


def _rate_limit(value: str | None) -> str | None:
    """A limit as Flask-Limiter reads it ("60 per hour"), checked at start-up.

    :raises ValueError: for anything else.
    """
    if value and value.strip():
        parse_many(value)
        return value.strip()
    return None


def _stored_secret(path: Path) -> str:
    """Return the secret kept in `path`, generating it the first time (never a fixed fallback)."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()

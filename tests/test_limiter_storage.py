"""The rate limits' database storage (`voting/limiter_storage.py`): atomic counts shared by every
connection, windows that restart, expired rows pruned, on SQLite (a file of its own) and PostgreSQL."""
import threading
import time

import pytest
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import func, select

from voting.config import limiter_storage_uri
from voting.limiter_storage import KEY_LENGTH, DatabaseStorage, rate_limit


@pytest.fixture()
def storage(database_url):
    storage = storage_from_string(limiter_storage_uri(database_url), prune_every=3600)
    storage.reset()
    yield storage
    storage.reset()
    storage.dispose()


def rows(storage) -> int:
    with storage.engine().connect() as connection:
        return connection.scalar(select(func.count()).select_from(rate_limit))


def test_the_uri_names_the_database_or_a_file_beside_sqlites():
    assert limiter_storage_uri("sqlite:////srv/voting/voting.sqlite3") == \
        "database+sqlite:////srv/voting/voting.sqlite3-limits"
    assert limiter_storage_uri("postgresql+psycopg://u:p@db/voting") == "database+postgresql+psycopg://u:p@db/voting"
    assert limiter_storage_uri("sqlite://") == "memory://"


def test_counts_are_atomic_across_connections(storage):
    """Eight threads, each with its own connection, hit one key 25 times: every count is handed out once."""
    seen, barrier = [], threading.Barrier(8)

    def hit():
        other = DatabaseStorage("database+" + storage.url)
        barrier.wait()
        seen.extend(other.incr("LIMITER/k", 60) for _ in range(25))
        other.dispose()

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seen) == list(range(1, 201))
    assert storage.get("LIMITER/k") == 200
    assert time.time() < storage.get_expiry("LIMITER/k") <= time.time() + 60


def test_a_window_restarts_once_it_has_passed_and_expired_rows_go(storage):
    assert storage.incr("gone", 0) == 1 and storage.get("gone") == 0  # a window of no time has passed at once
    assert storage.incr("gone", 60) == 1  # a new window, counted from 1
    storage.clear("gone")
    storage.incr("old", 0, amount=3)
    storage.incr("kept", 60)
    assert rows(storage) == 2
    storage.prune_every = 0
    storage.incr("kept", 60)
    assert rows(storage) == 1 and storage.get("kept") == 2 and storage.get("old") == 0


def test_the_strategy_counts_to_the_limit_and_long_keys_are_bounded(storage):
    limiter = FixedWindowRateLimiter(storage)
    limit = parse("3 per minute")
    name = "account:" + "名" * 400
    assert [limiter.hit(limit, name) for _ in range(4)] == [True, True, True, False]
    assert not limiter.test(limit, name) and limiter.test(limit, name[:-1])
    assert limiter.get_window_stats(limit, name).remaining == 0
    with storage.engine().connect() as connection:
        assert max(connection.scalars(select(func.length(rate_limit.c.key)))) <= KEY_LENGTH
    assert storage.check() and storage.reset() == 1  # a test writes nothing

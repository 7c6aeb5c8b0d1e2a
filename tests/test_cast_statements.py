"""The casting path's round trips, counted: each statement a cast sends to the database is CPU
time of the app and the database on the busiest path of the service (README, Benchmarks). They are
counted at the driver, below SQLAlchemy: the casting path runs most of them on the driver's own
cursor (`driver.DriverStatement`, the statements in `ballots/casting.py`)."""
import re

import psycopg
from sqlalchemy import event

from voting.extensions import db

# Not the cast's own statements: transaction control, and the pool's liveness check at checkout.
_NOT_COUNTED = re.compile(r"\s*(BEGIN|COMMIT|ROLLBACK|SELECT 1\s*$)", re.IGNORECASE)


def _counting(monkeypatch, sent: list[str]):
    """Note every statement the driver is given, on either database."""
    def note(statement):
        sent.append(" ".join(statement.split())[:60])

    if db.engine.dialect.name == "postgresql":
        for method in ("execute", "executemany"):
            original = getattr(psycopg.Cursor, method)

            def counted(self, query, *args, _original=original, **kwargs):
                note(query if isinstance(query, str) else query.as_string(self))
                return _original(self, query, *args, **kwargs)

            monkeypatch.setattr(psycopg.Cursor, method, counted)
        return
    db.engine.dispose()  # every connection from now on is a new one, traced
    event.listen(db.engine, "connect", lambda dbapi_connection, _record: dbapi_connection.set_trace_callback(note))


def test_a_cast_sends_one_statement_per_step(world, client, auth, monkeypatch):
    headers = auth.headers(world.a.residents[0].username)
    url, (first, second) = f"/api/v1/cycles/{world.a.cycle.id}/ballot", [p.id for p in world.a.projects[:2]]
    assert client.put(url, json={"projects": [first]}, headers=headers).status_code == 200  # rules frozen
    db.session.commit()
    sent = []
    _counting(monkeypatch, sent)
    response = client.put(url, json={"projects": [first, second]}, headers=headers)
    db.session.remove()
    db.engine.dispose()  # untraced connections for the tests after this one
    assert response.status_code == 200 and response.get_json()["version"] == 2
    # the token with its account and resident, and the cycle; the chain head's lock; the superseded
    # ballot with the window and the costs; the ballot, its choices, the chain head and the roll
    # entry. PostgreSQL takes the lock and reads the rest in one statement, and records in one;
    # SQLite, which has no data-modifying WITH, records in three and one for each choice (executemany)
    expected = 3 if db.engine.dialect.name == "postgresql" else 7 + 2
    counted = [statement for statement in sent if not _NOT_COUNTED.match(statement)]
    assert len(counted) == expected, "\n".join(sent)
    if db.engine.dialect.name == "sqlite":  # the reads before the write lock (`reads_before_lock`)
        assert sent.index("BEGIN IMMEDIATE") == 1 and sent[0].startswith("SELECT bearer."), "\n".join(sent)

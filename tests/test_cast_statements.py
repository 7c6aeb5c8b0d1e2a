"""The casting path's round trips, counted: each statement a cast sends to the database is CPU
time of the app and the database on the busiest path of the service (README, Benchmarks)."""
from sqlalchemy import event

from voting.extensions import db


def test_a_cast_sends_one_statement_per_step(world, client, auth):
    headers = auth.headers(world.a.residents[0].username)
    url, (first, second) = f"/api/v1/cycles/{world.a.cycle.id}/ballot", [p.id for p in world.a.projects[:2]]
    assert client.put(url, json={"projects": [first]}, headers=headers).status_code == 200  # rules frozen
    db.session.commit()
    sent = []

    def note(_conn, _cursor, statement, *_args):
        sent.append(" ".join(statement.split())[:60])

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        response = client.put(url, json={"projects": [first, second]}, headers=headers)
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert response.status_code == 200 and response.get_json()["version"] == 2
    # the token with its account and resident; the cycle; the chain head's lock; the superseded
    # ballot with the window and the costs; the ballot, its choices, the chain head and the roll
    # entry: one statement on PostgreSQL, four on SQLite, which has no data-modifying WITH
    expected = 5 if db.engine.dialect.name == "postgresql" else 9
    assert len(sent) == expected, "\n".join(sent)

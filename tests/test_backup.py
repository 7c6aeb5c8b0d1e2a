"""`voting backup` and `voting restore` on SQLite and PostgreSQL: a restore gives back exactly the
data at backup time, whose ballot record and action log both verify, whatever happened since (more
ballots, damaged rows, a damaged database); a backup taken while ballots are cast restores to a
whole record."""
from __future__ import annotations

import csv
import io
import itertools
import json
import random
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DatabaseError

from voting.accounts.models import User
from voting.accounts.services import issue_token
from voting.audit import verify_record
from voting.audit.chainlog import first_bad_row
from voting.ballots.models import Ballot, BallotChain
from voting.extensions import db


def users():
    return db.session.scalar(select(func.count(User.id)))


def test_backup_and_restore(world, runner, tmp_path):
    path = tmp_path / "voting.backup"
    result = runner.invoke(args=["backup", str(path)])
    assert result.exit_code == 0, result.output and path.stat().st_size > 0
    before = users()
    db.session.delete(world.admin)
    db.session.commit()
    assert users() == before - 1
    db.session.remove()
    result = runner.invoke(args=["restore", "--yes", str(path)])
    assert result.exit_code == 0, result.output
    assert users() == before
    assert db.session.scalar(select(User).where(User.username == "admin")) is not None


def test_photos_are_in_the_backup(world, factory, runner, client, tmp_path, app):
    from voting import storage
    from voting.proposals.models import ProjectPhoto
    from voting.proposals.photos import ProcessedPhoto, store_photo

    jpeg = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(jpeg, "JPEG")
    name = store_photo(db.session, ProcessedPhoto(jpeg.getvalue(), 40, 30))
    factory.add(ProjectPhoto(project_id=world.a.projects[0].id, filename=name, width=40, height=30))
    db.session.commit()
    path = tmp_path / "voting.backup"
    result = runner.invoke(args=["backup", str(path)])
    assert result.exit_code == 0 and "bucket" not in result.output
    db.session.execute(storage.StoredFile.__table__.delete())
    db.session.commit()
    assert client.get(f"/photos/{name}").status_code == 404
    db.session.remove()
    assert runner.invoke(args=["restore", "--yes", str(path)]).exit_code == 0
    served = client.get(f"/photos/{name}")
    assert served.status_code == 200 and served.get_data() == jpeg.getvalue()

    app.config["PHOTO_STORE"] = "s3://photos"  # photos in a bucket: the backup says they are not in it
    result = runner.invoke(args=["backup", str(tmp_path / "again.backup")])
    assert result.exit_code == 0 and "photos stored in s3://photos are not in this file" in result.output


def test_restore_refuses_a_file_that_is_not_a_backup(world, runner, tmp_path):
    bogus = tmp_path / "bogus.backup"
    bogus.write_bytes(b"not a backup at all" * 100)
    before = users()
    db.session.remove()
    result = runner.invoke(args=["restore", "--yes", str(bogus)])
    assert result.exit_code == 1 and "Error" in result.output and "Traceback" not in result.output
    assert users() == before


# --- a restore gives back the data at backup time, with both hash chains whole -------------------


def tables() -> dict[str, list[tuple]]:
    """Every row of every table of the schema, in primary-key order."""
    db.session.commit()  # a fresh transaction: see what the requests wrote
    connection = db.session.connection()
    return {table.name: [tuple(row) for row in connection.execute(select(table).order_by(*table.primary_key))]
            for table in db.metadata.sorted_tables}


def cast(client, token: str, cycle_id: int, projects: list[int]) -> dict:
    response = client.put(f"/api/v1/cycles/{cycle_id}/ballot", json={"projects": projects},
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def record_verifies(client, auditor: str, cycle_id: int, folder: Path) -> bool:
    """Download the cycle's ballot record as an auditor (the download is logged) and check it with
    the standalone verifier: hash chain, seq 1..n, each voter's versions, the head it names."""
    response = client.get(f"/api/v1/cycles/{cycle_id}/record", headers={"Authorization": f"Bearer {auditor}"})
    assert response.status_code == 200, response.get_json()
    path = folder / f"record-{cycle_id}-{len(list(folder.iterdir()))}.csv"
    path.write_bytes(response.data)
    status, lines = verify_record.verify(str(path))
    assert status in (verify_record.EXIT_OK, verify_record.EXIT_BAD), lines
    return status == verify_record.EXIT_OK


def log_verifies(client) -> bool:
    """Download the action log as the signed-in auditor (logged too) and check its hash chain."""
    response = client.get("/audit/log.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    return len(rows) > 0 and first_bad_row(rows) is None


def damage_the_database(database_url: str) -> None:
    """Damage the database beyond the service's use: on SQLite the file's first page (header and
    schema) overwritten with garbage, as a failing disk or a stray write would; on PostgreSQL,
    whose files are the server's, a table dropped."""
    db.session.remove()
    db.engine.dispose()
    if database_url.startswith("sqlite"):
        with open(make_url(database_url).database, "r+b") as damaged:
            damaged.write(random.Random(8).randbytes(4096))
        return
    with db.engine.begin() as connection:
        connection.execute(text("DROP TABLE ballot_choice"))


AFTER_BACKUP = ["more ballots", "rows damaged", "database damaged"]


@pytest.mark.parametrize("after", AFTER_BACKUP)
def test_restore_gives_back_the_data_at_backup_time_and_both_chains_verify(world, client, auth, runner, tmp_path,
                                                                          database_url, after):
    tokens = {user.username: auth.token(user.username) for place in (world.a, world.b) for user in place.residents}
    auditor = auth.token("auditor")
    a, b = ([p.id for p in place.projects] for place in (world.a, world.b))
    ca, cb = world.a.cycle.id, world.b.cycle.id  # (the world's rows leave the session at the restore)
    for n, (username, token) in enumerate(tokens.items()):
        cast(client, token, ca if username.startswith("resident-ca") else cb,
             [(a if username.startswith("resident-ca") else b)[n % 4]])
    cast(client, tokens["resident-ca-1"], ca, a[1:3])  # revised twice
    cast(client, tokens["resident-ca-1"], ca, a[:1])
    folder = tmp_path / "records"
    folder.mkdir()
    auth.login("auditor")
    assert record_verifies(client, auditor, ca, folder)
    assert record_verifies(client, auditor, cb, folder) and log_verifies(client)

    path = tmp_path / "voting.backup"
    result = runner.invoke(args=["backup", str(path)])
    assert result.exit_code == 0, result.output
    at_backup = tables()
    assert len(at_backup["ballot"]) == 8 and len(at_backup["action_log"]) == 3

    if after == "more ballots":
        cast(client, tokens["resident-ca-2"], ca, a[2:])
        cast(client, tokens["resident-cb-3"], cb, b[:2])
        assert record_verifies(client, auditor, ca, folder) and log_verifies(client)
        assert tables() != at_backup
    elif after == "rows damaged":  # what a careless UPDATE or a bad script does, found by the chains
        db.session.execute(text("DELETE FROM ballot_choice WHERE ballot_id = (SELECT min(id) FROM ballot)"))
        db.session.execute(text("UPDATE action_log SET actor = 'someone-else' WHERE seq = 1"))
        db.session.commit()
        assert not record_verifies(client, auditor, ca, folder)
        assert not log_verifies(client)
    else:
        damage_the_database(database_url)
        with pytest.raises(DatabaseError):
            tables()
    db.session.remove()

    result = runner.invoke(args=["restore", "--yes", str(path)])
    assert result.exit_code == 0, result.output
    assert tables() == at_backup
    assert record_verifies(client, auditor, ca, folder)
    assert record_verifies(client, auditor, cb, folder) and log_verifies(client)
    # and the service goes on from there: the chains continue where the backup left them
    assert cast(client, tokens["resident-ca-1"], ca, a[3:])["version"] == 4
    assert record_verifies(client, auditor, ca, folder) and log_verifies(client)
    assert len(tables()["ballot"]) == 9


# --- a backup taken while ballots are being cast ---------------------------------------------------


class Casting(threading.Thread):
    """Cast ballots through a real server, one voter after another, until stopped; note for each
    answered cast when its request was sent and its receipt."""

    def __init__(self, base: str, voters: list[tuple[str, int, list[int]]]):
        super().__init__(daemon=True)
        self.base, self.voters = base, voters
        self.stop, self.answered, self.error = threading.Event(), [], None

    def run(self):
        try:
            self.cast()
        except Exception as error:  # noqa: BLE001 - the test reports it
            self.error = error

    def cast(self):
        for n in itertools.count():
            if self.stop.is_set():
                return
            token, cycle_id, projects = self.voters[n % len(self.voters)]
            request = urllib.request.Request(
                f"{self.base}/api/v1/cycles/{cycle_id}/ballot", method="PUT",
                data=json.dumps({"projects": projects[n % 3:n % 3 + 2]}).encode(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
            sent = time.monotonic()
            with urllib.request.urlopen(request, timeout=60) as response:
                self.answered.append((sent, json.loads(response.read())["receipt"]))


@pytest.mark.server
def test_a_backup_taken_while_ballots_are_cast_restores_whole(world, factory, live_server, runner, tmp_path):
    voters, cycles = [], [world.a.cycle.id, world.b.cycle.id]
    for place in (world.a, world.b):
        for n in range(20):
            user = factory.resident(place.community, place.grid, f"backup-{place.community.code}-{n}")
            voters.append((issue_token(db.session, user, 1)[0], place.cycle.id, [p.id for p in place.projects]))
    db.session.commit()
    base = live_server(workers=2)
    threads = [Casting(base, voters[n::3]) for n in range(3)]
    for thread in threads:
        thread.start()

    def answered(at_least: int) -> list[tuple[float, str]]:
        """(when sent, receipt) of every answered cast, once there are at least so many."""
        deadline = time.monotonic() + 60
        while len(done := [item for thread in threads for item in thread.answered]) < at_least:
            assert time.monotonic() < deadline and not any(thread.error for thread in threads), \
                [thread.error for thread in threads]
            time.sleep(0.02)
        return done

    before = {receipt for _sent, receipt in answered(100)}
    path = tmp_path / "voting.backup"
    result = runner.invoke(args=["backup", str(path)])
    assert result.exit_code == 0, result.output
    backed_up = time.monotonic()
    answered(len(before) + 200)
    for thread in threads:
        thread.stop.set()
        thread.join()
    process = live_server.processes[base]
    process.terminate()  # `voting restore`: stop the service first
    process.wait(timeout=30)
    assert not any(thread.error for thread in threads), [thread.error for thread in threads]
    after = {receipt for sent, receipt in answered(0) if sent > backed_up}
    assert after
    db.session.remove()

    result = runner.invoke(args=["restore", "--yes", str(path)])
    assert result.exit_code == 0, result.output
    restored = set(db.session.scalars(select(Ballot.receipt)))
    assert before <= restored and not after & restored  # what was answered before the backup, nothing sent after
    assert db.session.scalar(select(func.count(Ballot.id)).where(~Ballot.choices.any())) == 0
    for cycle_id in cycles:
        record = tmp_path / f"record-{cycle_id}.csv"
        result = runner.invoke(args=["export", "--cycle", str(cycle_id), "--format", "csv", "--output", str(record)])
        assert result.exit_code == 0, result.output
        result = runner.invoke(args=["verify", str(record)])
        assert result.exit_code == 0, result.output
        count = db.session.scalar(select(func.count(Ballot.id)).where(Ballot.cycle_id == cycle_id))
        assert db.session.get(BallotChain, cycle_id).last_seq == count

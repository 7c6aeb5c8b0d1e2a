"""Fault tests against a real server: 2,000 ballots are cast through the JSON API while a worker of
`voting serve` is killed with SIGKILL every 0.2–0.5 s (gunicorn starts a new one). Afterwards every
acknowledged receipt is in the exported record with the choices sent, no ballot is partial, every
voter's versions run 1..n with exactly one current, the database's own integrity check passes and
the record's hash chain verifies.

Every cast carries an `Idempotency-Key`, as a careful client sends: a cast whose connection broke
is sent again with the same key until it is answered, so a ballot committed just before its worker
died is answered by replay and never recorded twice.
"""
from __future__ import annotations

import http.client
import json
import os
import random
import signal
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from voting.accounts.models import User
from voting.accounts.services import issue_token
from voting.audit import verify_record
from voting.ballots.models import Ballot, BallotChain, BallotChoice, IdempotentAnswer, RollEntry
from voting.ballots.services import Idempotency
from voting.extensions import db

CASTS = 2000
NEW_RESIDENTS = 400  # per community, besides the world's three: some vote once, some revise
WORKERS = 4
CLIENTS = 8
ATTEMPTS = 60  # per cast, before it counts as unacknowledged
BUDGET = 240  # seconds for all the casts (about 20 s when all is well): a broken server fails the test, not CI
RETRYABLE = {500, 502, 503, 504}  # what a dying or overloaded server may answer


@dataclass
class Cast:
    key: str
    cycle_id: int
    token: str
    voter: str
    projects: list[int]
    receipt: str | None = None
    version: int | None = None
    replayed: bool = False
    failures: list[str] = field(default_factory=list)  # of attempts: an exception's name or "<status> <body>"
    refused: str | None = None  # a 4xx answer (none is expected: every cast is valid)


def _put(base: str, cast: Cast) -> tuple[int, dict, bytes]:
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request("PUT", f"/api/v1/cycles/{cast.cycle_id}/ballot", body=json.dumps({"projects": cast.projects}),
                           headers={"Authorization": f"Bearer {cast.token}", "Content-Type": "application/json",
                                    "Idempotency-Key": cast.key})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def _send_until_answered(base: str, cast: Cast, deadline: float) -> None:
    """Send the cast, and again with the same key after a broken connection or a 5xx."""
    for attempt in range(ATTEMPTS):
        if time.monotonic() > deadline:
            cast.failures.append("out-of-time")
            return
        try:
            status, headers, body = _put(base, cast)
        except (OSError, http.client.HTTPException) as error:  # the worker died under the request
            cast.failures.append(type(error).__name__)
        else:
            if status == 200:
                answer = json.loads(body)
                cast.receipt, cast.version = answer["receipt"], answer["version"]
                cast.replayed = headers.get("Idempotent-Replayed") == "true"
                return
            if status not in RETRYABLE:
                cast.refused = f"{status} {body[:200]!r}"
                return  # a refusal is an answer: sending it again changes nothing
            cast.failures.append(f"{status} {body[:200]!r}")
        time.sleep(min(0.02 * 2 ** attempt, 0.5) * random.random())


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (read from /proc: no extra dependency)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # gone meanwhile
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


def _links(pid: int) -> list[str]:
    """What the process's open file descriptors point at (files, "socket:[inode]", …)."""
    links = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:  # closed meanwhile
            continue
    return links


def _database_sockets(port: int) -> set[str]:
    """The inodes of this machine's TCP sockets connected to `port` (PostgreSQL's)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if int(fields[2].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    return inodes


class Killer(threading.Thread):
    """Every 0.2–0.5 s, SIGKILL a random worker of the gunicorn master among those serving.

    A new worker takes a second or more to import the app (several on a busy machine): killed at
    random among all workers, most would die while booting and none would serve. So a target is a
    worker that holds a database connection (it has served a ballot and pools its connection),
    and only while another one remains to serve.
    """

    def __init__(self, master: int, database_url: str, rng: random.Random):
        super().__init__(daemon=True)
        self.master, self.rng = master, rng
        url = make_url(database_url)
        self.sqlite_path = str(Path(url.database).resolve()) if url.get_backend_name() == "sqlite" else None
        self.port = url.port or 5432
        self.stop, self.kills, self.skipped = threading.Event(), 0, 0

    def serving(self) -> list[int]:
        sockets = None if self.sqlite_path else _database_sockets(self.port)
        found = []
        for pid in _children(self.master):
            try:
                links = _links(pid)
            except OSError:  # gone meanwhile
                continue
            if self.sqlite_path in links or sockets and any(link[8:-1] in sockets for link in links):
                found.append(pid)
        return found

    def run(self):
        while not self.stop.wait(self.rng.uniform(0.2, 0.5)):
            serving = self.serving()
            if len(serving) < 2:
                self.skipped += 1
                continue
            try:
                os.kill(self.rng.choice(serving), signal.SIGKILL)
            except ProcessLookupError:
                continue
            self.kills += 1


def _voters(world, factory) -> list[tuple[int, str, str, list[int]]]:
    """(cycle id, token, username, project ids) of every resident of both communities, tokens issued."""
    voters = []
    for place in (world.a, world.b):
        residents = place.residents + [factory.resident(place.community, place.grid, f"fault-{place.community.code}-{n}")
                                       for n in range(NEW_RESIDENTS)]
        for user in residents:
            token, _row = issue_token(db.session, user, 12)
            voters.append((place.cycle.id, token, user.username, [p.id for p in place.projects]))
    db.session.commit()
    return voters


def _plan(voters, rng: random.Random) -> list[Cast]:
    """Every voter casts once; the rest of the 2,000 are revisions by voters drawn at random."""
    picks = list(voters) + [rng.choice(voters) for _ in range(CASTS - len(voters))]
    rng.shuffle(picks)
    return [Cast(key=f"fault-{index}", cycle_id=cycle_id, token=token, voter=username,
                 projects=sorted(rng.sample(projects, rng.randint(1, 3))))
            for index, (cycle_id, token, username, projects) in enumerate(picks)]


def _integrity_problems() -> tuple[str, list[str]]:
    """The database's own consistency check: (what was checked, the problems found).

    SQLite: `PRAGMA integrity_check` and `PRAGMA foreign_key_check`. PostgreSQL: amcheck's
    `bt_index_check` with `heapallindexed` over every B-tree index of the schema (`.ci/run`
    installs the extension for its test role; a superuser's test database gets it here), and the foreign keys of the ballot tables re-checked by query.
    """
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        problems = [row[0] for row in connection.exec_driver_sql("PRAGMA integrity_check") if row[0] != "ok"]
        problems += [repr(tuple(row)) for row in connection.exec_driver_sql("PRAGMA foreign_key_check")]
        return "integrity_check, foreign_key_check", problems
    problems, checked = [], "orphan queries"
    schema = connection.scalar(text("SELECT extnamespace::regnamespace::text FROM pg_extension "
                                    "WHERE extname = 'amcheck'"))
    created = schema is None
    if created:  # a superuser's test database; `.ci/run` installs it for its test role beforehand
        try:
            with connection.begin_nested():
                connection.execute(text("CREATE EXTENSION amcheck"))
        except Exception as error:  # noqa: BLE001 - said in the failure below
            pytest.fail(f"amcheck is not installed in the test database and this role may not create it: {error}; "
                        "as a superuser: CREATE SCHEMA amcheck; CREATE EXTENSION amcheck SCHEMA amcheck; "
                        "GRANT USAGE ON SCHEMA amcheck, EXECUTE ON ALL FUNCTIONS IN SCHEMA amcheck TO <role>")
        schema = "public"
    indexes = connection.scalars(text(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
        "JOIN pg_am a ON a.oid = c.relam WHERE n.nspname = 'public' AND a.amname = 'btree'")).all()
    for index in indexes:
        try:
            with connection.begin_nested():
                connection.execute(text(f"SELECT {schema}.bt_index_check(CAST(:index AS regclass), true)"),
                                   {"index": index})
        except Exception as error:  # noqa: BLE001 - collected and reported
            problems.append(f"{index}: {error}")
    if created:
        connection.execute(text("DROP EXTENSION amcheck"))
    checked = f"amcheck on {len(indexes)} indexes, {checked}"
    orphans = {
        "choice without ballot": "SELECT count(*) FROM ballot_choice c LEFT JOIN ballot b ON b.id = c.ballot_id "
                                 "WHERE b.id IS NULL",
        "choice of a missing project": "SELECT count(*) FROM ballot_choice c LEFT JOIN project p "
                                       "ON p.id = c.project_id WHERE p.id IS NULL",
        "ballot of a missing cycle": "SELECT count(*) FROM ballot b LEFT JOIN cycle c ON c.id = b.cycle_id "
                                     "WHERE c.id IS NULL",
        "roll entry of a missing resident": "SELECT count(*) FROM roll_entry r LEFT JOIN resident p "
                                            "ON p.id = r.resident_id WHERE p.id IS NULL",
    }
    for what, query in orphans.items():
        if n := connection.scalar(text(query)):
            problems.append(f"{n} {what}")
    return checked, problems


def _exported_rows(runner, cycle_id: int, path: Path) -> list[verify_record.BallotRow]:
    """Export the cycle's record with `voting export`, verify it with `voting verify` and the
    standalone verifier (against the chain head in the database), and read its rows."""
    result = runner.invoke(args=["export", "--cycle", str(cycle_id), "--format", "csv", "--output", str(path)])
    assert result.exit_code == 0, result.output
    head = db.session.get(BallotChain, cycle_id).head_hash
    result = runner.invoke(args=["verify", str(path), "--head", head])
    assert result.exit_code == 0, result.output
    status, lines = verify_record.verify(str(path), head)  # the standalone verifier too
    assert status == verify_record.EXIT_OK, lines
    record = verify_record.read_record(str(path))
    try:
        return list(record.rows)
    finally:
        record.close()


@pytest.mark.server
def test_kill_9_workers_while_2000_ballots_are_cast(world, factory, live_server, database_url, runner, tmp_path,
                                                    capsys):
    rng = random.Random(8)
    casts = _plan(_voters(world, factory), rng)
    base = live_server(workers=WORKERS, extra_env={
        # gunicorn logs every killed and every new worker: to a file, not to the fixture's unread pipe
        "GUNICORN_CMD_ARGS": f"--capture-output --error-logfile {tmp_path / 'gunicorn.log'}"})
    killer = Killer(live_server.processes[base].pid, database_url, rng)  # gunicorn's master

    started = time.perf_counter()
    killer.start()
    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            deadline = time.monotonic() + BUDGET
            list(pool.map(lambda cast: _send_until_answered(base, cast, deadline), casts))
    finally:
        killer.stop.set()
        killer.join()
    seconds = time.perf_counter() - started

    answered = [c for c in casts if c.receipt]
    failures = Counter(failure.split(" ")[0] for c in casts for failure in c.failures)
    db.session.commit()  # end the test's read transaction: see what the server wrote
    checked, problems = _integrity_problems()
    with capsys.disabled():
        print(f"\n{CASTS} casts, {WORKERS} workers, {db.engine.dialect.name}: {killer.kills} workers killed "
              f"({killer.skipped} times none could be spared) in {seconds:.1f} s; {len(answered)} acknowledged "
              f"({sum(c.replayed for c in answered)} by replay: their worker died after the commit), "
              f"{CASTS - len(answered)} never; failed attempts {dict(failures)}; {checked}")
    assert killer.kills >= 10, "the faults did not happen"
    assert [(c.key, c.refused) for c in casts if c.refused] == []  # every cast is valid
    assert len(answered) >= 0.99 * CASTS, "the service stopped answering while its workers were killed"
    assert problems == []
    partial = db.session.scalar(select(func.count(Ballot.id)).where(~Ballot.choices.any()))
    assert partial == 0, f"{partial} ballots without their choices"

    records = {place.cycle.id: _exported_rows(runner, place.cycle.id, tmp_path / f"record-{place.cycle.id}.csv")
               for place in (world.a, world.b)}
    rows = {row.receipt: row for record in records.values() for row in record}
    assert len(rows) == sum(len(record) for record in records.values())  # no receipt twice

    # Every acknowledged receipt is in the record with the choices sent. A cast never answered may
    # have been recorded (its worker died after the commit), but each key at most once: every
    # ballot is the stored answer to exactly one cast, with that cast's choices.
    missing = [c.key for c in answered if c.receipt not in rows]
    assert missing == [], f"{len(missing)} acknowledged ballots are not in the record"
    # The stored answers name no account: each is found by the hash of (account, key), as a retry finds it.
    accounts = dict(db.session.execute(select(User.username, User.id)).all())
    key_of = {Idempotency.of(accounts[c.voter], c.key, c.cycle_id, ()).key_hash: c.key for c in casts}
    by_key = {c.key: c for c in casts}
    stored = {key_of[key_hash]: json.loads(body)["receipt"] for key_hash, body in db.session.execute(
        select(IdempotentAnswer.key_hash, IdempotentAnswer.body))}
    assert [c.key for c in answered if stored.get(c.key) != c.receipt] == []
    unasked = set(rows) - set(stored.values())
    assert not unasked, f"{len(unasked)} ballots answer no cast (recorded again when a cast was retried?)"
    assert len(stored) == len(rows)
    for key, receipt in stored.items():
        cast, row = by_key[key], rows[receipt]
        assert [project for project, _points in row.choices] == cast.projects, key
        assert cast.version in (None, row.version), key

    # Every voter's versions run 1..n, the highest one alone current.
    by_voter = defaultdict(list)
    for cycle_id, record in records.items():
        for row in record:
            by_voter[cycle_id, row.voter_code].append(row)
    for versions in by_voter.values():
        versions.sort(key=lambda row: row.version)
        assert [row.version for row in versions] == list(range(1, len(versions) + 1))
        assert [row.superseded for row in versions] == [True] * (len(versions) - 1) + [False]

    # The database agrees with the record: every choice in it, the chain head at the last seq, one
    # current ballot per voter and every voter marked on the roll.
    assert db.session.scalar(select(func.count()).select_from(BallotChoice)) == sum(
        len(row.choices) for row in rows.values())
    for cycle_id, record in records.items():
        ballots = db.session.scalar(select(func.count(Ballot.id)).where(Ballot.cycle_id == cycle_id))
        assert db.session.get(BallotChain, cycle_id).last_seq == ballots == len(record)
        current = db.session.scalar(select(func.count(Ballot.id)).where(Ballot.cycle_id == cycle_id,
                                                                          Ballot.is_current))
        voted = db.session.scalar(select(func.count(RollEntry.id)).where(RollEntry.cycle_id == cycle_id,
                                                                         RollEntry.has_voted))
        assert current == voted == len({code for (cycle, code) in by_voter if cycle == cycle_id})

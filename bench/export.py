"""Benchmark the ballot-record export: a synthetic closed cycle of 1,000,000 ballot rows, exported as
CSV and as JSON through the same code as `voting export`, on SQLite and (when VOTING_BENCH_PG_URL
is set) PostgreSQL.

    .venv/bin/python -m bench.export                       # SQLite (a temporary file), 1,000,000 rows
    VOTING_BENCH_PG_URL=postgresql+psycopg://voting:voting@127.0.0.1/voting_bench \\
        .venv/bin/python -m bench.export                   # also PostgreSQL: THE DATABASE IS EMPTIED
    .venv/bin/python -m bench.export --rows 200000 --verify   # fewer rows; verify the CSV afterwards

The cycle: 8 projects, 900,000 voters of whom 100,000 revised their ballot once (1,000,000 rows,
each with 1–3 choices, a fifth assisted), a real hash chain and the stored result (computed with
voting.tally), so the export is a verifiable record. Rows are inserted with executemany (SQLite)
or COPY (PostgreSQL), not through cast_ballot.

The cycle is built in one process and each export runs in a fresh one (the app loaded, then the
export), which reports rows per second by the wall clock and by its own CPU time (the machine may
be busy with other work), and its peak resident memory (VmHWM: the whole process, interpreter and
app included) next to the resident memory before the export began. Its baseline, measured in the
same run: the driver's own cursor reading the same rows (the columns and the choices' text) into
nothing. With --verify, the standalone verifier on the CSV record (the system's Python), against
the baselines of one sha256 per line of the same file and the csv module reading it. Each figure is
the median of --repeat runs (3), with the spread. Goal (issue 21): 500,000 rows/s, under 200 MB;
the verifier under 5 s for a million rows.

    .venv/bin/python -m bench.export --sqlite-file /tmp/b.sqlite3   # reuse a database built before
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("VOTING_SECRET_KEY", "bench-secret-key-not-for-production")
os.environ["VOTING_RATELIMIT_ENABLED"] = "false"

SEED = 2026
PROJECTS = 8
REVISING = 0.1
BATCH = 50_000
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
VOTER_KEY = "0123456789abcdef"  # the fingerprint of the synthetic voter codes' key (they are not HMACs)


def build(url: str, rows: int) -> int:
    """Create the schema and the synthetic cycle at `url`; return the cycle's id."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from voting.app import create_app
    from voting.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        if url.startswith("postgresql"):
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade(revision="heads")
        cycle_id, project_ids = _base_rows(db)
        started = time.perf_counter()
        ballots, choices, current = _ballot_rows(cycle_id, project_ids, rows)
        db.session.close()
        _insert(db, url, ballots, choices)
        db.engine.dispose()
        _store_result(db, cycle_id, project_ids, current, rows, ballots[-1][-1])
        print(f"  inserted {rows:,} ballot rows and {len(choices):,} choices in {time.perf_counter() - started:.1f} s",
              flush=True)
        db.engine.dispose()
    return cycle_id


def _base_rows(db) -> tuple[int, list[int]]:
    from voting.accounts.models import User
    from voting.ballots.chain import genesis_hash
    from voting.ballots.models import BallotChain
    from voting.cycles.models import Cycle
    from voting.geography.models import Community, Grid, SubDistrict
    from voting.proposals.models import Project

    sub = SubDistrict(code="bench", name="基准街道")
    community = Community(code="bench01", name="基准社区", sub_district=sub)
    grid = Grid(code="bench01-1", name="基准网格", community=community)
    db.session.add_all([sub, community, grid])
    db.session.flush()
    worker = User(username="grid-bench01-1", password_hash="x", role="grid_worker", community_id=community.id,
                  grid_id=grid.id)
    opens = datetime(2026, 4, 1, 1, 0)
    cycle = Cycle(community_id=community.id, year=2026, phase="voting", voting_opens_at=opens,
                  voting_closes_at=opens + timedelta(days=14), rules_frozen_at=opens, fund_fen=200_000 * 100 * 50)
    db.session.add_all([worker, cycle])
    db.session.flush()
    db.session.add(BallotChain(cycle_id=cycle.id, last_seq=0, head_hash=genesis_hash(cycle.id), voter_key=VOTER_KEY))
    generator = random.Random(SEED)
    projects = [Project(cycle_id=cycle.id, title=f"项目{n}", description="基准", category="road",
                        estimated_cost_fen=cost, cost_fen=cost, status="on_ballot")
                for n, cost in enumerate((generator.randrange(200, 4000) * 1_000 * 100 for _ in range(PROJECTS)),
                                         start=1)]
    db.session.add_all(projects)
    db.session.commit()
    return cycle.id, [p.id for p in projects]


def _receipt(number: int) -> str:
    digits = []
    for _ in range(12):
        number, digit = divmod(number, 32)
        digits.append(CROCKFORD[digit])
    raw = "".join(reversed(digits))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def _ballot_rows(cycle_id: int, project_ids: list[int], rows: int):
    """(ballot rows, choice rows, current choices per voter) with a real chain, in seq order."""
    from voting.ballots.chain import canonical_row, genesis_hash, next_hash

    generator = random.Random(SEED)
    revisions = int(rows * REVISING)
    voters = rows - revisions
    start = datetime(2026, 4, 1, 2, 0)
    previous = genesis_hash(cycle_id)
    ballots, choices, current = [], [], {}
    weights = [1 / (rank + 1) for rank in range(len(project_ids))]
    for index in range(rows):
        seq = index + 1
        voter = index if index < voters else index - voters
        version = 1 if index < voters else 2
        code = hashlib.sha256(f"bench-voter-{voter}".encode()).hexdigest()[:24]
        size = generator.choice((1, 2, 3))
        chosen = sorted(set(generator.choices(project_ids, weights, k=size)))
        cast_at = start + timedelta(microseconds=index * 500_000 + generator.randrange(1000))
        receipt = _receipt(index * 7919 + 13)
        previous = next_hash(previous, canonical_row(seq=seq, voter_code=code, version=version,
                                                     choices=[(p, 1) for p in chosen], cast_at=cast_at,
                                                     receipt=receipt))
        is_current = not (index < voters and voter < revisions)
        ballots.append((seq, cycle_id, code, VOTER_KEY, version, cast_at, receipt, is_current, previous))
        choices.extend((seq, p) for p in chosen)
        current[voter] = chosen
    return ballots, choices, current


def _insert(db, url: str, ballots: list, choices: list) -> None:
    """Ballots with id = seq (the table is empty), then their choices: executemany or COPY."""
    columns = "id, cycle_id, voter_code, voter_key, version, cast_at, receipt, is_current, chain_hash"
    if url.startswith("postgresql"):
        connection = db.engine.raw_connection()
        try:
            with connection.cursor() as cursor:
                seqs = [(b[0], *b[1:]) for b in ballots]
                with cursor.copy(f"COPY ballot ({columns}, seq) FROM STDIN") as copy:
                    for row in seqs:
                        copy.write_row((*row, row[0]))
                with cursor.copy("COPY ballot_choice (ballot_id, project_id, points) FROM STDIN") as copy:
                    for ballot_id, project in choices:
                        copy.write_row((ballot_id, project, 1))
                cursor.execute("SELECT setval('ballot_id_seq', (SELECT max(id) FROM ballot))")
                cursor.execute("ANALYZE ballot")
                cursor.execute("ANALYZE ballot_choice")
            connection.commit()
        finally:
            connection.close()
    else:
        connection = db.engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute("BEGIN")
            for first in range(0, len(ballots), BATCH):
                cursor.executemany(
                    f"INSERT INTO ballot ({columns}, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(*b[:5], b[5].strftime("%Y-%m-%d %H:%M:%S.%f"), *b[6:], b[0]) for b in ballots[first:first + BATCH]])
            for first in range(0, len(choices), BATCH):
                cursor.executemany("INSERT INTO ballot_choice (ballot_id, project_id, points) VALUES (?, ?, 1)",
                                   choices[first:first + BATCH])
            cursor.execute("COMMIT")
            cursor.execute("ANALYZE")
        finally:
            connection.close()


def _store_result(db, cycle_id: int, project_ids: list[int], current: dict, rows: int, head: str) -> None:
    """The chain head and the result counted by voting.tally, as the close would have stored them."""
    from voting.ballots.models import BallotChain
    from voting.cycles.models import Cycle
    from voting.results.models import CycleResult
    from voting.results.services import count_votes
    from voting.tally import Election, Project as TallyProject

    cycle = db.session.get(Cycle, cycle_id)
    from voting.proposals.models import Project

    costs = {p.id: p.cost_fen for p in db.session.query(Project).filter(Project.cycle_id == cycle_id)}
    election = Election.from_values([TallyProject(p, costs[p]) for p in project_ids], cycle.fund_fen,
                                    list(current.values()))
    outcome = count_votes(election, "greedy", None)
    chain = db.session.get(BallotChain, cycle_id)
    chain.last_seq, chain.head_hash = rows, head
    db.session.add(CycleResult(cycle_id=cycle_id, rule="greedy", ballots_counted=len(current),
                               eligible_voters=len(current), computed_at=cycle.voting_closes_at, tie_break="",
                               chain_seq=rows, chain_head=head, outcomes="[]",
                               selected=json.dumps(list(outcome.selected))))
    cycle.phase = "results"
    db.session.commit()


def peak_rss_mb() -> float:
    """The process's peak resident memory so far (VmHWM, reset by exec, unlike ru_maxrss)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def export_once(url: str, cycle_id: int, file_format: str, output: str) -> dict:
    """Export in this process and measure it (called in a fresh child process), as `voting export`
    does: the header, then the rows as lines written by the database, to a file in large chunks."""
    from voting.app import create_app
    from voting.audit.exports import csv_chunks, json_chunks
    from voting.audit.records import record_header, record_lines
    from voting.cycles.models import Cycle
    from voting.database import utcnow
    from voting.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        cycle = db.session.get(Cycle, cycle_id)
        before = peak_rss_mb()
        started, cpu = time.perf_counter(), time.process_time()
        header = record_header(db.session, cycle, utcnow())
        chunks = csv_chunks if file_format == "csv" else json_chunks
        count = 0

        def counted(lines):
            nonlocal count
            for batch in lines:
                count += batch[0]
                yield batch

        with open(output, "wb") as stream:
            stream.writelines(chunks(header, counted(record_lines(db.session, header, file_format))))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"rows": count, "seconds": seconds, "rows_per_second": count / seconds, "cpu_seconds": cpu,
            "rows_per_cpu_second": count / cpu, "rss_before_mb": before, "peak_rss_mb": peak_rss_mb(),
            "bytes": os.path.getsize(output)}


def baseline_once(url: str, cycle_id: int) -> dict:
    """The baseline of the same run: the driver's own cursor reading the record's rows (the columns
    and the choices' text, the query `records.record_rows` runs) in batches of 20,000, into nothing;
    on PostgreSQL through a server-side cursor. What reading the rows costs before any export."""
    from sqlalchemy import create_engine

    from voting.audit.records import _CAST_AT, _CHOICES, _FINAL_SUPERSEDED, _RECORD_SQL

    engine = create_engine(url)
    with engine.connect() as connection:
        dialect = connection.dialect.name
        last = connection.exec_driver_sql(f"SELECT last_seq FROM ballot_chain WHERE cycle_id = {cycle_id}").scalar()
        sql = _RECORD_SQL.format(cast_at=_CAST_AT[dialect], choices=_CHOICES[dialect], cycle=cycle_id, last=last,
                                 superseded=_FINAL_SUPERSEDED)
        driver = connection.connection.driver_connection
        before = peak_rss_mb()
        started, cpu = time.perf_counter(), time.process_time()
        cursor = driver.cursor(name="baseline") if dialect == "postgresql" else driver.cursor()
        if dialect == "postgresql":
            cursor.itersize = 20_000
        cursor.execute(sql)
        count = 0
        while rows := cursor.fetchmany(20_000):
            count += len(rows)
        cursor.close()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"rows": count, "seconds": seconds, "rows_per_second": count / seconds, "cpu_seconds": cpu,
            "rows_per_cpu_second": count / cpu, "rss_before_mb": before, "peak_rss_mb": peak_rss_mb(), "bytes": 0}


def hash_baseline_once(path: str) -> dict:
    """The verifier's baselines on the same file: one sha256 per line (as the chain hashes one per
    row), and the csv module reading every row, each into nothing."""
    import csv

    started = time.perf_counter()
    with open(path, "rb") as stream:
        for line in stream:
            hashlib.sha256(line).hexdigest()
    hashed = time.perf_counter() - started
    started = time.perf_counter()
    with open(path, encoding="utf-8-sig", newline="") as stream:
        rows = sum(1 for _row in csv.reader(stream))
    return {"sha256_seconds": hashed, "csv_seconds": time.perf_counter() - started, "lines": rows}


def _child(*arguments: str) -> dict:
    child = subprocess.run([sys.executable, "-m", "bench.export", *arguments], capture_output=True, text=True,
                           cwd=ROOT, check=True)
    return json.loads(child.stdout.strip().splitlines()[-1])


def _median(values: list[float]) -> str:
    values = sorted(values)
    middle = values[len(values) // 2]
    return f"{middle:,.0f} (spread {values[0]:,.0f}–{values[-1]:,.0f})"


def _report(label: str, runs: list[dict]) -> None:
    print(f"  {label:<34} {runs[0]['rows']:,} rows: {_median([r['rows_per_second'] for r in runs])} rows/s "
          f"by the wall clock; {_median([r['rows_per_cpu_second'] for r in runs])} per CPU second of this "
          f"process; peak memory {max(r['peak_rss_mb'] for r in runs):.0f} MB (app loaded: "
          f"{max(r['rss_before_mb'] for r in runs):.0f} MB)", flush=True)


def run(name: str, url: str, rows: int, verify: bool, folder: Path, repeat: int, build: bool = True) -> None:
    if build:
        print(f"{name}: building a cycle of {rows:,} ballot rows", flush=True)
        built = subprocess.run([sys.executable, "-m", "bench.export", "--build", url, str(rows)],
                               capture_output=True, text=True, cwd=ROOT, check=True)
        print(built.stdout.strip().rsplit("\n", 1)[0], flush=True)
        cycle_id = int(built.stdout.strip().splitlines()[-1])
    else:
        cycle_id = 1
    print(f"{name}: each figure the median of {repeat} runs (the spread: the lowest and highest)", flush=True)
    runs = [_child("--baseline", url, str(cycle_id)) for _ in range(repeat)]
    _report("baseline: the raw cursor", runs)
    for file_format in ("csv", "json"):
        output = folder / f"record-{name}.{file_format}"
        runs = [_child("--child", url, str(cycle_id), file_format, str(output)) for _ in range(repeat)]
        _report(f"export {file_format} ({runs[0]['bytes'] / 1e6:.0f} MB)", runs)
        if verify and file_format == "csv":
            verify_file(output, repeat)
        output.unlink()


def verify_file(output: Path, repeat: int) -> None:
    """The standalone verifier on the CSV record (the system's Python, as an auditor runs it), and its
    baselines on the same file."""
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    walls, cpus, status = [], [], ""
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        checked = subprocess.run([python, str(ROOT / "voting" / "audit" / "verify_record.py"), str(output),
                                  "--lang", "en"], capture_output=True, text=True)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        status = "intact" if checked.returncode == 0 else "NOT VERIFIED: " + checked.stderr.strip()
    memory = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    baselines = [_child("--hash-baseline", str(output)) for _ in range(repeat)]
    print(f"  verify_record.py on the CSV ({status}): {sorted(walls)[len(walls) // 2]:.2f} s by the wall clock "
          f"(spread {min(walls):.2f}–{max(walls):.2f}), {sorted(cpus)[len(cpus) // 2]:.2f} s CPU "
          f"(spread {min(cpus):.2f}–{max(cpus):.2f}); peak memory of a child so far {memory:.0f} MB", flush=True)
    hashed = sorted(b["sha256_seconds"] for b in baselines)
    read = sorted(b["csv_seconds"] for b in baselines)
    print(f"  baselines on the same file: sha256 of every line {hashed[len(hashed) // 2]:.2f} s "
          f"(spread {hashed[0]:.2f}–{hashed[-1]:.2f}); csv.reader over every row {read[len(read) // 2]:.2f} s "
          f"(spread {read[0]:.2f}–{read[-1]:.2f})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--verify", action="store_true", help="run the standalone verifier on the CSV")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each figure (the median is reported)")
    parser.add_argument("--sqlite-file", help="a SQLite database built by an earlier run (cycle 1): no build")
    parser.add_argument("--pg-built", action="store_true", help="the PostgreSQL database holds an earlier build")
    parser.add_argument("--baseline", nargs=2, metavar=("URL", "CYCLE"), help=argparse.SUPPRESS)
    parser.add_argument("--hash-baseline", metavar="PATH", help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=4, metavar=("URL", "CYCLE", "FORMAT", "OUTPUT"), help=argparse.SUPPRESS)
    parser.add_argument("--build", nargs=2, metavar=("URL", "ROWS"), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.build:
        print(build(options.build[0], int(options.build[1])))
        return
    if options.baseline:
        print(json.dumps(baseline_once(options.baseline[0], int(options.baseline[1]))))
        return
    if options.hash_baseline:
        print(json.dumps(hash_baseline_once(options.hash_baseline)))
        return
    if options.child:
        url, cycle_id, file_format, output = options.child
        print(json.dumps(export_once(url, int(cycle_id), file_format, output)))
        return
    with tempfile.TemporaryDirectory(prefix="voting-bench-") as folder:
        sqlite = f"sqlite:///{options.sqlite_file or folder + '/bench.sqlite3'}"
        run("sqlite", sqlite, options.rows, options.verify, Path(folder), options.repeat,
            build=not options.sqlite_file)
        if os.environ.get("VOTING_BENCH_PG_URL"):
            run("postgresql", os.environ["VOTING_BENCH_PG_URL"], options.rows, False, Path(folder), options.repeat,
                build=not options.pg_built)


if __name__ == "__main__":
    main()

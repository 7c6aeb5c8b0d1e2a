"""Server time of three public pages with 45 communities × 10 years of data, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.pages [--requests 20] [--databases sqlite,postgresql]

The data: the demo district (10 residents a grid; its past cycles, last year's cycles with real
ballots counted and stored, this year's open votes), plus a closed cycle for every other year, so
that each community has ten years (2017 to this year), each closed one with its projects:
two or three funded and built, two not funded, inserted in bulk.

The pages, requested in-process through the app (no network, no gunicorn: the server's own time):
the district home `/`, the results page of a counted cycle with real ballots (last year's, of
the first community) and the dashboard `/dashboard`. For each: the first request (templates
compiled, the result counted if it was not yet) and the median and worst of `--requests` more.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.data import DEFAULT_PG_URL, bench_app, fresh_database  # noqa: E402

YEARS = 10
CATEGORIES = ("water", "road", "lighting", "elderly", "parking", "greening")


def load(app, residents_per_grid: int) -> int:
    """The demo, then a closed cycle for each missing year of each community; the id of the cycle
    whose results page is timed."""
    from flask_migrate import upgrade
    from sqlalchemy import func, insert, select

    from voting.cycles.models import DEFAULT_FUND_FEN, Cycle
    from voting.database import utcnow
    from voting.demo import load_demo
    from voting.extensions import db
    from voting.proposals.models import Project

    with app.app_context():
        upgrade(revision="heads")
        load_demo(db.session, seed=2026, password="Bench-Pass-1", residents_per_grid=residents_per_grid)
        db.session.commit()
        session = db.session
        this_year = utcnow().year
        have = set(session.execute(select(Cycle.community_id, Cycle.year)).all())
        communities = sorted({community for community, _year in have})
        missing = [(c, y) for c in communities for y in range(this_year - YEARS + 1, this_year + 1) if (c, y) not in have]
        cycle_ids = session.scalars(insert(Cycle).returning(Cycle.id, sort_by_parameter_order=True), [
            {"community_id": c, "year": y, "fund_fen": DEFAULT_FUND_FEN, "phase": "closed",
             "created_at": datetime(y, 2, 1), "review_started_at": datetime(y, 3, 1),
             "voting_opens_at": datetime(y, 4, 1), "voting_closes_at": datetime(y, 4, 15),
             "results_published_at": datetime(y, 4, 16), "implementation_started_at": datetime(y, 5, 1),
             "closed_at": datetime(y + 1, 3, 31), "rules_frozen_at": datetime(y, 4, 1), "method": "approval",
             "min_choices": 1, "max_choices": 3, "outcome_rule": "greedy"} for c, y in missing]).all()
        projects = []
        for n, ((_community, year), cycle_id) in enumerate(zip(missing, cycle_ids, strict=True)):
            funded = 2 + n % 2
            for rank in range(funded + 2):
                cost = (90_000 - 10_000 * rank) * 100 if rank < funded else 150_000 * 100
                done = datetime(year, 10, 1) + timedelta(days=rank)
                projects.append({
                    "cycle_id": cycle_id, "title": f"{year}年第{rank + 1}号实事项目", "description": "",
                    "category": CATEGORIES[(n + rank) % len(CATEGORIES)], "estimated_cost_fen": cost,
                    "cost_fen": cost, "status": "accepted" if rank < funded else "not_funded",
                    "submitted_at": datetime(year, 2, 10), "reviewed_at": datetime(year, 3, 10),
                    "votes": 600 - 50 * rank, "completed_at": done if rank < funded else None,
                    "accepted_at": done + timedelta(days=20) if rank < funded else None})
        session.execute(insert(Project), projects)
        session.commit()
        cycles = session.scalar(select(func.count(Cycle.id)))
        target = session.scalar(select(Cycle.id).where(Cycle.year == this_year - 1).order_by(Cycle.community_id))
        db.session.remove()
    print(f"    {len(communities)} communities, {cycles} cycles ({len(missing)} added), "
          f"{len(projects)} projects added", flush=True)
    return target


def time_page(client, path: str, requests: int) -> tuple[float, float, float]:
    """(first, median, worst) server time in ms of GET `path` (each answered 200)."""
    times = []
    for _ in range(requests + 1):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code}")
    return times[0], statistics.median(times[1:]), max(times[1:])


def run_database(kind: str, args, workdir: Path) -> list[tuple[str, tuple[float, float, float]]] | None:
    from sqlalchemy.engine import make_url

    url = make_url(args.pg_url)
    pg_url = url.set(database=f"{url.database}_pages").render_as_string(hide_password=False)
    database = fresh_database(kind, workdir, pg_url)
    if database is None:
        return None
    started = time.perf_counter()
    app = bench_app(database)
    cycle_id = load(app, args.residents_per_grid)
    print(f"  {kind}: data ready in {time.perf_counter() - started:.1f} s", flush=True)
    pages = (("district home  /", "/"), (f"results  /cycles/{cycle_id}/results", f"/cycles/{cycle_id}/results"),
             ("dashboard  /dashboard", "/dashboard"))
    client = app.test_client()
    return [(name, time_page(client, path, args.requests)) for name, path in pages]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page after the first")
    parser.add_argument("--residents-per-grid", type=int, default=10)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL server (database name + _pages)")
    args = parser.parse_args(argv)
    print(f"page benchmark: 45 communities × {YEARS} years, server time in-process", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="voting-bench-pages-") as tmp:
        for kind in args.databases.split(","):
            measured = run_database(kind, args, Path(tmp))
            if measured:
                results[kind] = measured
    for kind, measured in results.items():
        print(f"\n{kind}: page server time, ms (first request; median and worst of {args.requests} more)")
        for name, (first, median, worst) in measured:
            print(f"  {name:<34}{first:>9.1f}{median:>9.1f}{worst:>9.1f}")


if __name__ == "__main__":
    main()

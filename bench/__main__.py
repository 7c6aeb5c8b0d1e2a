"""Every benchmark, one after the other: `python -m bench` (or `make bench`).

    .venv/bin/python -m bench            # the full run (about 15 minutes on 2 cores)
    .venv/bin/python -m bench --quick    # shorter runs, fewer rows, no pabutools comparison
    .venv/bin/python -m bench --only cast,pages

(a) casting (`bench/cast.py`): `voting serve` with 2 workers against a bare Flask endpoint and a
    bare upsert, on SQLite and PostgreSQL; needs `wrk` (apt-get install wrk);
(b) the tally (`bench/tally.py`), and `voting tally` as a whole process against pabutools as a whole
    process (`bench/tally_process.py`);
(c) the ballot-record export (`bench/export.py`), when present;
(d) page server time with 45 communities × 10 years (`bench/pages.py`).

PostgreSQL: `--pg-url` (default postgresql+psycopg://voting:voting@127.0.0.1/voting_bench) names a
role that may create databases; the run (re)creates `voting_bench`, `voting_bench_pages` and
`voting_bench_export`. Without a server there, the PostgreSQL parts are skipped.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.data import DEFAULT_PG_URL, fresh_database  # noqa: E402

PARTS = ("cast", "tally", "export", "pages")


def banner(title: str) -> None:
    print(f"\n{'=' * 100}\n{title}\n{'=' * 100}", flush=True)


def run(argv: list[str], env: dict | None = None) -> None:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, env=env)
    print(f"({' '.join(argv)}: {time.perf_counter() - started:.0f} s, exit {result.returncode})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs: a first look, not the figures")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {','.join(PARTS)}")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    args = parser.parse_args()
    parts = args.only.split(",")
    if "cast" in parts:
        banner("(a) casting ballots: voting serve against a bare Flask endpoint and a bare upsert")
        quick = ["--rounds", "1", "--seconds", "5", "--voters", "5000"] if args.quick else []
        run(["bench.cast", "--pg-url", args.pg_url, *quick])
    if "tally" in parts:
        banner("(b) the tally" + (" (without the pabutools comparison)" if args.quick else ""))
        run(["bench.tally", *(["--no-pabutools"] if args.quick else [])])
        run(["bench.tally_process", *(["--runs", "1", "--no-pabutools-mes"] if args.quick else [])])
    if "export" in parts and (ROOT / "bench" / "export.py").exists():
        banner("(c) the ballot-record export")
        env = dict(os.environ)
        from sqlalchemy.engine import make_url

        url = make_url(args.pg_url)
        with tempfile.TemporaryDirectory() as tmp:
            export_url = fresh_database("postgresql", Path(tmp),
                                        url.set(database=f"{url.database}_export").render_as_string(False))
        if export_url:
            env["VOTING_BENCH_PG_URL"] = export_url
        run(["bench.export", *(["--rows", "200000"] if args.quick else [])], env)
    if "pages" in parts:
        banner("(d) page server time, 45 communities × 10 years")
        run(["bench.pages", "--pg-url", args.pg_url, *(["--requests", "5"] if args.quick else [])])


if __name__ == "__main__":
    main()

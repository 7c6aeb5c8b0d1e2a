"""Benchmark `voting tally` as a whole process against pabutools as a whole process, side by side.

    .venv/bin/python -m bench.tally_process                   # every file, greedy and mes (~10 minutes)
    .venv/bin/python -m bench.tally_process --no-pabutools-mes  # skip pabutools' MES (minutes a file)
    .venv/bin/python -m bench.tally_process --runs 5 --only Lodz,Plac   # some files only

What a user waits for: a fresh process that starts Python, loads the code, reads the file, counts
and prints. Ours is the installed console script, ``voting tally FILE --rule R --format json``;
pabutools' is :mod:`bench.pabutools_tally` (its parser and the same rule as ``bench/tally.py``:
``greedy_utilitarian_welfare`` with ``Cost_Sat``; ``exhaustion_by_budget_increase`` over
``method_of_equal_shares``, budget step = number of voters), which prints the funded ids.

Each pair runs in turn (ours, theirs, ours, theirs, ...), ``--runs`` times each (pabutools' MES
once: it takes up to minutes a file); figures are medians of wall seconds, CPU seconds (user + sys of
the child) beside them. ``agree`` compares the funded sets; pabutools' ``Cost_Sat`` treats a project
named on a ballot as approved, so on files with points (cumulative, ordinal) greedy ranks
differently by design and ``agree`` says ``points``.

First, the start-up itself: the interpreter alone (``python -c pass``), ``import voting.tally`` and
``voting tally`` on the smallest file, with the modules the tally path loads.

Files: /work/shared/data/pabulib/ when present (``--data`` for another folder), else tests/data/.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path("/work/shared/data/pabulib")
DATA = SHARED if SHARED.is_dir() else ROOT / "tests" / "data"
VOTING = Path(sys.executable).parent / "voting"
PABUTOOLS = [sys.executable, str(ROOT / "bench" / "pabutools_tally.py")]


def timed(command: list[str]) -> tuple[float, float, str]:
    """Wall and CPU seconds of one run of ``command`` as a fresh process, and what it printed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done.stdout


def side_by_side(commands: list[list[str]], runs: list[int]) -> list[tuple[float, float, str]]:
    """Each command ``runs[i]`` times, in turn; per command: median wall, median CPU, last output."""
    results: list[list[tuple[float, float, str]]] = [[] for _ in commands]
    for round_ in range(max(runs)):
        for index, command in enumerate(commands):
            if round_ < runs[index]:
                results[index].append(timed(command))
    return [(statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows), rows[-1][2])
            for rows in results]


def start_up(runs: int) -> None:
    smallest = min(DATA.glob("*.pb"), key=lambda path: path.stat().st_size)
    probe = "import json, sys, voting.tally; print(json.dumps(sorted(sys.modules)))"
    commands = {
        "python -c pass (the interpreter alone)": [sys.executable, "-c", "pass"],
        "python -c 'import voting.tally'": [sys.executable, "-c", "import voting.tally"],
        f"voting tally {smallest.name} (greedy)": [str(VOTING), "tally", str(smallest), "--rule", "greedy"],
        f"voting tally {smallest.name} (mes)": [str(VOTING), "tally", str(smallest), "--rule", "mes"],
    }
    figures = side_by_side(list(commands.values()), [runs] * len(commands))
    for label, (wall, cpu, _) in zip(commands, figures):
        print(f"start-up  {label:<70} wall {wall:6.3f} s  cpu {cpu:6.3f} s", flush=True)
    loaded = set(json.loads(timed([sys.executable, "-c", probe])[2]))
    heavy = sorted(name for name in ("numpy", "click", "flask", "sqlalchemy", "argparse", "gettext")
                   if name in loaded)
    print(f"start-up  `import voting.tally` loads {len(loaded)} modules; of numpy, click, flask, sqlalchemy, "
          f"argparse, gettext: {', '.join(heavy) or 'none'}", flush=True)


def funded(ours: str) -> set[str]:
    return set(json.loads(ours)["selected"])


def has_points(path: Path) -> bool:
    head = path.read_text(encoding="utf-8-sig", errors="replace")[:4000].lower()
    return any(f"vote_type;{kind}" in head for kind in ("cumulative", "ordinal", "scoring"))


def bench_files(runs: int, pabutools_mes: bool, only: list[str] | None) -> None:
    print(f"\n{'file':<46}{'rule':<8}{'ours wall':>10}{'cpu':>7}{'pabutools wall':>16}{'cpu':>8}"
          f"{'ratio':>8}{'(cpu)':>8}  agree", flush=True)
    ratios: dict[str, list[float]] = {"greedy": [], "mes": []}
    cpu_ratios: dict[str, list[float]] = {"greedy": [], "mes": []}
    for path in sorted(DATA.glob("*.pb")):
        if only and not any(part in path.name for part in only):
            continue
        for rule in ("greedy", "mes"):
            ours = [str(VOTING), "tally", str(path), "--rule", rule, "--format", "json"]
            theirs = [*PABUTOOLS, rule, str(path)]
            with_theirs = rule == "greedy" or pabutools_mes
            commands = [ours, theirs] if with_theirs else [ours]
            figures = side_by_side(commands, [runs, runs if rule == "greedy" else 1][: len(commands)])
            (our_wall, our_cpu, our_out) = figures[0]
            line = f"{path.stem[:44]:<46}{rule:<8}{our_wall:10.3f}{our_cpu:7.3f}"
            if with_theirs:
                their_wall, their_cpu, their_out = figures[1]
                same = funded(our_out) == set(json.loads(their_out))
                agree = "yes" if same else ("points" if rule == "greedy" and has_points(path) else "NO")
                ratios[rule].append(their_wall / our_wall)
                cpu_ratios[rule].append(their_cpu / our_cpu)
                line += (f"{their_wall:16.3f}{their_cpu:8.3f}{their_wall / our_wall:7.1f}x"
                         f"{their_cpu / our_cpu:7.1f}x  {agree}")
            print(line, flush=True)
    for rule in ratios:
        for kind, values in (("wall", ratios[rule]), ("cpu", cpu_ratios[rule])):
            if values:
                print(f"whole-process ratio pabutools/ours, {rule}, {kind}: "
                      f"median {statistics.median(values):.1f}x, min {min(values):.1f}x, "
                      f"max {max(values):.1f}x over {len(values)} files", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each command (pabutools' MES: one)")
    parser.add_argument("--no-pabutools-mes", action="store_true", help="skip pabutools' MES (slow)")
    parser.add_argument("--only", help="comma-separated parts of file names to keep (e.g. Lodz,Plac)")
    parser.add_argument("--data", type=Path, help="a folder of .pb files instead of the shared pabulib files")
    options = parser.parse_args()
    global DATA
    DATA = options.data or DATA
    print(f"files: {DATA}; {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the start")
    start_up(max(options.runs, 5))
    bench_files(options.runs, pabutools_mes=not options.no_pabutools_mes,
                only=options.only.split(",") if options.only else None)


if __name__ == "__main__":
    main()

"""The standalone verifier's lean CSV loop gives the answers of the checks every format shares, and
the verifier speaks Chinese or English (`--lang`, by default from the locale).

Records are written here by hand with the verifier's own chain functions (no app, no database), so
that rows the service never writes (choices out of order, a short time fraction, "True", a guarded
cell) can be mixed with plain ones."""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from voting.audit import verify_record as vr

VERIFIER = Path(vr.__file__)
OPENS = datetime(2026, 4, 1, 1, 0)
PROJECTS = [(1, "1000.00"), (2, "2000.00"), (3, "500.00")]


def ballots(count: int = 12) -> list[dict]:
    """Rows as the service writes them: voters 0..count-3 vote once, the first two revise at the end."""
    rows, previous = [], vr.genesis_hash(7)
    voters = [f"{n:024x}" for n in range(count - 2)] + [f"{0:024x}", f"{1:024x}"]
    for index, code in enumerate(voters):
        seq, version = index + 1, 2 if index >= count - 2 else 1
        choices = [(1 + index % 3, 1)] + ([(3, 1)] if index % 3 == 0 else [])
        cast_at = OPENS + timedelta(minutes=seq, microseconds=seq * 7)
        receipt = f"R{seq:03d}-AAAA-BBBB"
        previous = vr.next_hash(previous, vr.canonical_row(seq=seq, voter_code=code, version=version,
                                                           choices=choices, cast_at=cast_at, receipt=receipt))
        rows.append({"seq": str(seq), "voter_code": code, "version": str(version),
                     "choices": vr.format_choices(choices), "cast_at": vr.format_cast_at(cast_at),
                     "receipt": receipt, "superseded": "false", "chain_hash": previous})
    for row in rows[:2]:
        row["superseded"] = "true"
    return rows


def write(path: Path, rows: list[dict], head: str | None = None, selected: str = "3,1") -> Path:
    """The record as CSV (the layout of voting/audit/exports.csv_chunks)."""
    current = len(rows) - 2
    header = [("format", vr.RECORD_FORMAT), ("status", "final"), ("cycle", "7"), ("community", "c01"),
              ("community_name", "石峰社区"), ("year", "2026"), ("fund", "3000.00"), ("method", "approval"),
              ("unvoted_projects", "never_funded"), ("outcome_rule", "greedy"),
              ("voting_opens_at", vr.format_cast_at(OPENS)),
              ("voting_closes_at", vr.format_cast_at(OPENS + timedelta(days=1))), ("chain_seq", str(len(rows))),
              ("chain_head", head or rows[-1]["chain_hash"]), ("ballots_counted", str(current)),
              ("selected", selected)]
    with open(path, "w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerows([["RECORD"], ["key", "value"], *header, ["PROJECTS"], vr.PROJECT_COLUMNS])
        writer.writerows([(pid, cost, f"项目{pid}", "road") for pid, cost in PROJECTS])
        writer.writerows([["BALLOTS"], vr.BALLOT_COLUMNS])
        writer.writerows([[row[column] for column in vr.BALLOT_COLUMNS] for row in rows])
        writer.writerow(["END", len(rows)])
    return path


def both_ways(path: Path, **options) -> tuple:
    """(the lean loop's outcome, the shared checks' outcome): the Checked figures or the message."""
    outcomes = []
    for lean in (True, False):
        record = vr.read_record(str(path))
        if not lean:
            record.csv = None
        try:
            checked = vr.check_rows(record, **options)
            outcomes.append((checked.rows, checked.superseded, checked.current, checked.last_hash,
                             checked.first_cast_at, checked.last_cast_at, checked.checkpoints))
        except vr.Broken as error:
            outcomes.append(str(error))
        finally:
            record.rows.close()
            record.close()
    return tuple(outcomes)


def test_rows_the_service_never_writes_verify_as_the_shared_checks_read_them(tmp_path):
    rows = ballots()
    rows[3]["choices"] = "3:1,1:1"  # out of order: read, sorted, hashed
    rows[4]["cast_at"] = rows[4]["cast_at"].replace(".000035Z", ".000035Z ")  # padded: read, stripped
    rows[5]["superseded"] = "False"
    rows[6]["version"] = "01"
    rows[7]["receipt"] = "'" + rows[7]["receipt"]  # a guarded cell: the apostrophe is not hashed
    path = write(tmp_path / "odd.csv", rows)
    lean, shared = both_ways(path)
    assert lean == shared and lean[0] == 12 and lean[1] == 2
    assert vr.verify(str(path))[0] == vr.EXIT_OK


@pytest.mark.parametrize("change", [
    lambda rows: rows[5].update(receipt="R999-AAAA-BBBB"),  # a changed row
    lambda rows: rows.pop(4),  # a deleted row
    lambda rows: rows.insert(6, dict(rows[6])),  # a duplicated row
    lambda rows: rows.__setitem__(slice(3, 5), [rows[4], rows[3]]),  # two rows swapped
    lambda rows: rows[0].update(superseded="false"),  # two current ballots of one voter
    lambda rows: rows[-1].update(superseded="true"),  # superseded by nothing
    lambda rows: rows[8].update(cast_at="2026-04-02T01:00:00.000000Z"),  # after the close
    lambda rows: rows[8].update(choices="9:1"),  # an unknown project
    lambda rows: rows[8].update(cast_at="2026-02-30T01:00:00.000000Z"),  # no such day
])
def test_a_bad_row_gets_the_message_of_the_shared_checks(tmp_path, change):
    rows = ballots()
    head = rows[-1]["chain_hash"]
    change(rows)
    lean, shared = both_ways(write(tmp_path / "bad.csv", rows, head=head))
    assert isinstance(lean, str) and lean == shared


def test_checkpoints_and_the_head_given(tmp_path):
    rows = ballots()
    path = write(tmp_path / "ok.csv", rows)
    good = vr.parse_checkpoint(f"5:{rows[4]['chain_hash']}")
    wrong = vr.parse_checkpoint(f"6:{rows[4]['chain_hash']}")
    lean, shared = both_ways(path, checkpoints=[good], expected_head=rows[-1]["chain_hash"].upper())
    assert lean == shared and lean[-1] == [good]
    lean, shared = both_ways(path, checkpoints=[wrong])
    assert lean == shared and "does not extend checkpoint 6:" in lean


def run(path: Path, *args: str, lang: str = "C.UTF-8") -> subprocess.CompletedProcess:
    """The verifier as an auditor runs it: a copy alone in a folder, the system Python."""
    folder = path.parent / "alone"
    folder.mkdir(exist_ok=True)
    script = shutil.copy(VERIFIER, folder / "verify_record.py")
    python = ["/usr/bin/python3"] if os.path.exists("/usr/bin/python3") else [sys.executable, "-I", "-S"]
    return subprocess.run([*python, script, str(path), *args], capture_output=True, text=True, cwd=folder,
                          env={"PATH": "/usr/bin:/bin", "LANG": lang}, timeout=60)


def test_the_verifier_speaks_chinese_in_a_chinese_locale_and_english_otherwise(tmp_path):
    rows = ballots()
    good = write(tmp_path / "ok.csv", rows)
    head = rows[-1]["chain_hash"]
    rows[5]["receipt"] = "R999-AAAA-BBBB"
    bad = write(tmp_path / "bad.csv", rows, head=head)

    chinese = run(good, lang="zh_CN.UTF-8")
    assert chinese.returncode == 0, chinese.stderr
    assert "通过：记录完整，公布的结果正是它的计票结果。" in chinese.stdout
    assert "选票：共记录 12 张（序号 1–12）：10 张有效，2 张已被本人后来的选票取代" in chinese.stdout
    assert "OK" not in chinese.stdout
    refused = run(bad, lang="zh_CN.UTF-8")
    assert refused.returncode == 1
    assert refused.stderr.startswith("未通过验证：第 6 张选票（文件第 31 行）：链哈希与本行及上一行对不上")

    english = run(good, lang="C.UTF-8")
    assert "OK: the record is intact and the published result is its count." in english.stdout
    assert run(bad, "--lang", "en", lang="zh_CN.UTF-8").stderr.startswith(
        "NOT VERIFIED: row 6 (line 31): the chain hash does not follow")
    assert run(good, "--lang", "zh").stdout.startswith("记录：第 7 轮，石峰社区（c01），2026 年")
    usage = run(good, "--checkpoint", "5:zz", "--lang", "zh")
    assert usage.returncode == 2 and "检查点的哈希必须是 64 位十六进制数字" in usage.stderr


@pytest.mark.parametrize("environ, language", [
    ({"LANG": "zh_CN.UTF-8"}, "zh"), ({"LANG": "en_US.UTF-8"}, "en"), ({}, "en"),
    ({"LANG": "zh_CN.UTF-8", "LC_ALL": "C"}, "en"), ({"LANG": "C", "LC_MESSAGES": "zh_TW.UTF-8"}, "zh"),
])
def test_the_default_language_follows_the_locale(environ, language):
    assert vr.default_language(environ) == language


def test_every_chinese_message_fills_the_same_places_as_its_english_one():
    for english, chinese in vr.ZH.items():
        places = {name for _text, name, _spec, _conversion in __import__("string").Formatter().parse(english) if name}
        assert places == {name for _text, name, _spec, _conversion in __import__("string").Formatter().parse(chinese)
                          if name}, english

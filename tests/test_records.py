"""The ballot record of a closed cycle, tried as an auditor would: download it in each format, check
it with `voting verify` and with the standalone verifier (the system Python, no project imports),
and see every tampering named at its row."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from voting.audit import verify_record
from voting.audit.models import ActionLogEntry
from voting.ballots.chain import canonical_row, genesis_hash, next_hash
from voting.ballots.models import Ballot, BallotChain
from voting.ballots.casting import CastingCycle, Voter
from voting.ballots.services import cast_ballot
from voting.database import utcnow
from voting.extensions import db
from voting.results.models import CycleResult

VERIFIER = Path(__file__).resolve().parent.parent / "voting" / "audit" / "verify_record.py"
SYSTEM_PYTHON = "/usr/bin/python3"
FORMULA_WORKER = "=HYPERLINK(\"http://x\",\"y\")"
FORMULA_TITLE = "@SUM(1+1)"


def standalone(path: Path, *args: str) -> subprocess.CompletedProcess:
    """Run verify_record.py as a user would: a copy alone in a folder, the system Python, no project."""
    folder = path.parent / "alone"
    folder.mkdir(exist_ok=True)
    script = shutil.copy(VERIFIER, folder / "verify_record.py")
    python = [SYSTEM_PYTHON] if os.path.exists(SYSTEM_PYTHON) else [sys.executable, "-I", "-S"]
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    return subprocess.run([*python, script, str(path), *args], capture_output=True, text=True, cwd=folder,
                          env=env, timeout=120)


def project_verify(runner, path: Path, *args: str):
    return runner.invoke(args=["verify", str(path), *args])


@pytest.fixture()
def closed(world, factory):
    """ca: six residents (one more grid worker, named like a formula); eight ballot versions, two
    of them revisions; one project titled like a formula; then voting closes."""
    place = world.a
    residents = place.residents + [factory.resident(place.community, place.grid, f"resident-ca-{n}")
                                   for n in range(4, 7)]
    odd_worker = factory.user(FORMULA_WORKER, "grid_worker", place.community, place.grid)
    place.projects[3].title = FORMULA_TITLE
    p1, p2, p3, p4 = (p.id for p in place.projects)
    start = utcnow() - timedelta(hours=3)
    casts = [
        (Voter.of_account(residents[0]), [p1, p2], "online", None),
        (Voter.of_resident(residents[1].resident), [p1, p3], "assisted", place.worker),
        (Voter.of_account(residents[2]), [p3, p4], "online", None),
        (Voter.of_resident(residents[3].resident), [p2, p3], "assisted", odd_worker),
        (Voter.of_account(residents[2]), [p2, p3, p4], "online", None),  # a revision: only this one of hers counts
        (Voter.of_account(residents[4]), [p3], "online", None),
        (Voter.of_account(residents[5]), [p1], "online", None),
        (Voter.of_account(residents[0]), [p1, p3], "online", None),  # another revision
    ]
    for minute, (voter, projects, channel, worker) in enumerate(casts):
        cast_ballot(db.session, CastingCycle.read(db.session, place.cycle), voter, [(p, 1) for p in projects], channel,
                    worker, start + timedelta(minutes=minute, microseconds=minute * 1234))
    place.cycle.voting_closes_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    return world


def download(client, auth, cycle_id: int, file_format: str, folder: Path) -> Path:
    auth.login("auditor")
    response = client.get(f"/audit/cycles/{cycle_id}/record.{file_format}")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    path = folder / f"record.{file_format}"
    path.write_bytes(response.data)
    return path


def stored_result(cycle_id: int) -> CycleResult:
    db.session.expire_all()
    return db.session.get(CycleResult, cycle_id)


@pytest.mark.parametrize("file_format", ["csv", "json", "xlsx"])
def test_an_auditor_downloads_and_both_verifiers_pass(closed, client, auth, runner, tmp_path, file_format):
    path = download(client, auth, closed.a.cycle.id, file_format, tmp_path)
    result = stored_result(closed.a.cycle.id)
    published = ", ".join(map(str, json.loads(result.selected)))
    assert result.ballots_counted == 6 and result.chain_seq == 8

    ours = project_verify(runner, path)
    assert ours.exit_code == 0, ours.output
    assert "OK: the record is intact" in ours.output and f"funded {published} " in ours.output
    assert result.chain_head in ours.output and "8 ballots recorded" in ours.output

    alone = standalone(path, "--head", result.chain_head)
    assert alone.returncode == 0, alone.stderr
    assert "OK: the record is intact" in alone.stdout and f"funded {published} " in alone.stdout
    assert "6 current, 2 superseded" in alone.stdout
    window = "(" + window_text(closed.a.cycle.voting_opens_at) + " to " + window_text(closed.a.cycle.voting_closes_at)
    for output in (ours.output, alone.stdout):
        assert f"window: every ballot cast within the voting window {window})" in output
    # Format 2: the header carries the voting window; a row names no channel and no worker.
    record = verify_record.read_record(str(path))
    try:
        assert record.header.voting_opens_at == closed.a.cycle.voting_opens_at
        assert record.header.voting_closes_at == closed.a.cycle.voting_closes_at
        assert len(list(record.rows)) == 8
    finally:
        record.close()
    assert verify_record.BALLOT_COLUMNS == ("seq", "voter_code", "version", "choices", "cast_at", "receipt",
                                            "superseded", "chain_hash")


def window_text(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_the_record_format_2_in_each_layout(closed, client, auth, tmp_path):
    """The header names format 2 and the voting window (ISO 8601, Z); ballot rows have exactly the
    eight columns, in CSV, JSON, XLSX and the pabulib META."""
    from openpyxl import load_workbook

    cycle = closed.a.cycle
    opens, closes = window_text(cycle.voting_opens_at), window_text(cycle.voting_closes_at)
    columns = ["seq", "voter_code", "version", "choices", "cast_at", "receipt", "superseded", "chain_hash"]
    rows = list(csv.reader(io.StringIO(download(client, auth, cycle.id, "csv", tmp_path).read_text("utf-8-sig"))))
    header = {row[0]: row[1] for row in rows[2:rows.index(["PROJECTS"])]}
    assert header["format"] == "voting-record/2"
    assert (header["voting_opens_at"], header["voting_closes_at"]) == (opens, closes)
    assert rows[rows.index(["BALLOTS"]) + 1] == columns
    assert all(len(row) == 8 for row in rows[rows.index(["BALLOTS"]) + 2:-1]) and rows[-1] == ["END", "8"]
    document = json.loads(download(client, auth, cycle.id, "json", tmp_path).read_text("utf-8"))
    assert document["format"] == "voting-record/2"
    assert (document["record"]["voting_opens_at"], document["record"]["voting_closes_at"]) == (opens, closes)
    assert all(list(ballot) == columns for ballot in document["ballots"])
    book = load_workbook(download(client, auth, cycle.id, "xlsx", tmp_path), read_only=True)
    assert [c for c in next(book["ballots"].iter_rows(values_only=True))] == columns
    values = {key: value for key, value in book["record"].iter_rows(min_row=2, values_only=True)}
    assert (values["format"], values["voting_opens_at"], values["voting_closes_at"]) == ("voting-record/2", opens,
                                                                                       closes)
    book.close()
    pb = download(client, auth, cycle.id, "pb", tmp_path).read_text("utf-8")
    assert f"voting_opens_at;{opens}" in pb and f"voting_closes_at;{closes}" in pb
    worker_names = {"grid-ca-1", FORMULA_WORKER}
    for name in ("record.csv", "record.json", "record.pb"):
        text = (tmp_path / name).read_text("utf-8-sig")
        assert "channel" not in text and "worker" not in text and "assisted" not in text
        assert not any(worker in text for worker in worker_names)


def test_a_wrong_published_head_is_refused(closed, client, auth, tmp_path):
    path = download(client, auth, closed.a.cycle.id, "csv", tmp_path)
    alone = standalone(path, "--head", "0" * 64)
    assert alone.returncode == 1 and "row 8" in alone.stderr and "head you gave" in alone.stderr


# --- tampering -------------------------------------------------------------------------------------


def ballot_lines(lines: list[str], file_format: str) -> list[int]:
    """Indexes of the lines holding ballot rows (one per line in both the CSV and the JSON)."""
    if file_format == "csv":
        start = next(i for i, line in enumerate(lines) if line.startswith("seq,")) + 1
        end = next(i for i, line in enumerate(lines) if line.startswith("END,"))
    else:
        start = next(i for i, line in enumerate(lines) if line.startswith('"ballots"')) + 1
        end = next(i for i, line in enumerate(lines) if line.startswith("]"))
    return list(range(start, end))


def tamper(path: Path, file_format: str, how: str) -> None:
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    rows = ballot_lines(lines, file_format)
    second, third = rows[1], rows[2]
    if how == "change":
        # one character of the receipt (the 8th field in the CSV; "receipt": in the JSON)
        line = lines[second]
        if file_format == "json":
            at = line.index('"receipt": "') + 12
        else:
            at = line.rfind(",", 0, line.rfind(",")) - 3
        lines[second] = line[:at] + ("X" if line[at] != "X" else "Y") + line[at + 1:]
    elif how == "delete":
        del lines[second]
    elif how == "swap":
        lines[second], lines[third] = lines[third], lines[second]
    elif how == "duplicate":
        lines.insert(third, lines[second])
    path.write_text("\n".join(lines), encoding="utf-8")


@pytest.mark.parametrize("file_format", ["csv", "json"])
@pytest.mark.parametrize("how, bad_row", [("change", 2), ("delete", 2), ("swap", 2), ("duplicate", 3)])
def test_each_tampering_is_named_at_its_row(closed, client, auth, runner, tmp_path, file_format, how, bad_row):
    path = download(client, auth, closed.a.cycle.id, file_format, tmp_path)
    tamper(path, file_format, how)
    ours = project_verify(runner, path)
    alone = standalone(path)
    assert ours.exit_code == 1, ours.output
    assert alone.returncode == 1, alone.stdout + alone.stderr
    for output in (ours.output, alone.stderr):
        assert re.search(rf"NOT VERIFIED: row {bad_row}[ :]", output), output
        assert "Traceback" not in output
    if file_format == "csv":
        assert f"row {bad_row} (line " in alone.stderr


def test_tampering_in_the_xlsx_is_named_at_its_row(closed, client, auth, tmp_path):
    from openpyxl import load_workbook

    path = download(client, auth, closed.a.cycle.id, "xlsx", tmp_path)
    book = load_workbook(path)
    sheet = book["ballots"]
    assert sheet.cell(row=1, column=4).value == "choices"
    sheet.cell(row=4, column=4).value = "1:1"  # the choices of ballot row 3 (sheet row 4)
    book.save(path)
    alone = standalone(path)
    assert alone.returncode == 1 and "NOT VERIFIED: row 3 (sheet ballots, row 4)" in alone.stderr


def test_a_changed_superseded_flag_is_found(closed, client, auth, runner, tmp_path):
    path = download(client, auth, closed.a.cycle.id, "csv", tmp_path)
    text = path.read_text(encoding="utf-8-sig")
    lines = text.split("\n")  # read_text turned CRLF into LF
    rows = ballot_lines(lines, "csv")
    last = lines[rows[-1]]
    assert ",false," in last
    lines[rows[-1]] = last.replace(",false,", ",true,")
    path.write_text("\r\n".join(lines), encoding="utf-8")
    for output in (project_verify(runner, path).output, standalone(path).stderr):
        assert "row 8 (line" in output and "marked as superseded" in output


def test_a_changed_published_result_is_found(closed, client, auth, runner, tmp_path):
    path = download(client, auth, closed.a.cycle.id, "json", tmp_path)
    document = json.loads(path.read_text(encoding="utf-8"))
    document["record"]["selected"] = list(reversed(document["record"]["selected"]))
    path.write_text(json.dumps(document), encoding="utf-8")
    ours, alone = project_verify(runner, path), standalone(path)
    assert ours.exit_code == 1 and alone.returncode == 1
    assert "the recount does not give the published result" in ours.output
    assert "the recount does not give the published result" in alone.stderr


@pytest.mark.parametrize("file_format", ["csv", "json", "xlsx"])
def test_a_truncated_file_is_refused_clearly(closed, client, auth, runner, tmp_path, file_format):
    path = download(client, auth, closed.a.cycle.id, file_format, tmp_path)
    data = path.read_bytes()
    if file_format == "csv":
        cut = data.index(b"\r\n", data.index(b"seq,voter_code")) + 2
        for _ in range(4):
            cut = data.index(b"\r\n", cut) + 2
        path.write_bytes(data[:cut])  # the header and three ballot rows: cut at a line end
    else:
        path.write_bytes(data[: len(data) * 2 // 3])
    ours, alone = project_verify(runner, path), standalone(path)
    assert ours.exit_code == 1 and alone.returncode == 1, (ours.output, alone.stderr)
    for output in (ours.output, alone.stderr):
        assert "truncated" in output and "Traceback" not in output, output


def test_a_csv_cut_inside_a_row_is_refused(closed, client, auth, tmp_path):
    path = download(client, auth, closed.a.cycle.id, "csv", tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: data.index(b"\r\n", data.index(b"seq,voter_code")) + 40])
    alone = standalone(path)
    assert alone.returncode == 1 and "row 1 (line" in alone.stderr and "Traceback" not in alone.stderr


def test_unreadable_input_exits_2(closed, runner, tmp_path):
    missing = tmp_path / "nothing.csv"
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    other = tmp_path / "other.csv"
    other.write_text("name,id_number\n张三,1\n", encoding="utf-8")
    for path in (missing, binary, other, tmp_path / "record.txt"):
        ours, alone = project_verify(runner, path), standalone(path)
        assert ours.exit_code == 2 and alone.returncode == 2, (path, ours.output, alone.stderr)
        assert "cannot verify" in alone.stderr and "Traceback" not in ours.output + alone.stderr


def test_a_csv_resaved_the_way_excel_saves_it_still_verifies(closed, client, auth, runner, tmp_path):
    path = download(client, auth, closed.a.cycle.id, "csv", tmp_path)
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    width = max(len(row) for row in rows)
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n").writerows(
        row + [""] * (width - len(row)) for row in rows)  # every row as wide as the widest, all quoted
    path.write_bytes(b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8"))
    assert project_verify(runner, path).exit_code == 0
    assert standalone(path).returncode == 0


def test_cells_that_look_like_formulas_are_neutralised(closed, client, auth, runner, tmp_path):
    path = download(client, auth, closed.a.cycle.id, "csv", tmp_path)
    cells = [cell for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))) for cell in row]
    assert "'" + FORMULA_TITLE in cells
    workers = client.get(f"/audit/cycles/{closed.a.cycle.id}/workers.csv")  # the worker's name is there
    assert "'" + FORMULA_WORKER in [cell for row in csv.reader(io.StringIO(workers.get_data(as_text=True)))
                                    for cell in row]
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)
    xlsx = download(client, auth, closed.a.cycle.id, "xlsx", tmp_path)
    with zipfile.ZipFile(xlsx) as book:
        sheets = [book.read(name).decode() for name in book.namelist() if name.startswith("xl/worksheets/")]
    assert not any("<f>" in sheet for sheet in sheets)
    assert standalone(path).returncode == 0 and standalone(xlsx).returncode == 0


# --- the pabulib export ----------------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["greedy", "mes", "mes+greedy", "greedy-threshold"])
def test_the_pb_export_counts_to_the_stored_result(closed, client, auth, runner, tmp_path, rule):
    closed.a.cycle.outcome_rule = rule
    closed.a.cycle.threshold = 2 if rule == "greedy-threshold" else None
    db.session.commit()
    path = download(client, auth, closed.a.cycle.id, "pb", tmp_path)
    counted = runner.invoke(args=["tally", str(path), "--format", "json"])
    assert counted.exit_code == 0, counted.output
    result = stored_result(closed.a.cycle.id)
    assert json.loads(counted.output)["selected"] == [str(p) for p in json.loads(result.selected)]
    assert "rule;" + {"mes": "equalshares/add1", "mes+greedy": "equalshares/add1/greedy"}.get(rule, rule) \
        in path.read_text(encoding="utf-8")
    ours = project_verify(runner, path)
    assert ours.exit_code == 0 and "the count is the published result" in ours.output
    path.write_text(path.read_text(encoding="utf-8").replace("selected;", "selected;9"), encoding="utf-8")
    assert project_verify(runner, path).exit_code == 1


@pytest.mark.parametrize("rule", ["greedy-no-skip", "mes", "mes+greedy"])
def test_both_verifiers_recount_each_rule(closed, client, auth, runner, tmp_path, rule):
    closed.a.cycle.outcome_rule = rule
    db.session.commit()
    path = download(client, auth, closed.a.cycle.id, "json", tmp_path)
    assert project_verify(runner, path).exit_code == 0
    alone = standalone(path)
    assert alone.returncode == 0 and f"recount ({rule})" in alone.stdout


# --- the voting window ------------------------------------------------------------------------------


def _cast_times(cycle_id: int) -> list:
    return db.session.scalars(select(Ballot.cast_at).where(Ballot.cycle_id == cycle_id).order_by(Ballot.seq)).all()


@pytest.mark.parametrize("file_format", ["csv", "json", "xlsx"])
def test_a_counted_ballot_cast_after_the_close_is_refused(closed, client, auth, runner, tmp_path, file_format):
    """The window stored for the cycle ends before its last ballot (counted) was recorded: a record
    that says so is refused, naming that row, though its chain is intact."""
    cycle = closed.a.cycle
    cycle.voting_closes_at = _cast_times(cycle.id)[-1]  # row 8 cast exactly at the close: outside
    db.session.commit()
    path = download(client, auth, cycle.id, file_format, tmp_path)
    ours, alone = project_verify(runner, path), standalone(path)
    assert ours.exit_code == 1 and alone.returncode == 1, (ours.output, alone.stdout)
    for output in (ours.output, alone.stderr):
        assert re.search(r"NOT VERIFIED: row 8[ :]", output), output
        assert "a counted ballot cast at" in output and "at or after voting closed" in output


def test_a_superseded_ballot_cast_before_the_opening_is_refused_too(closed, client, auth, runner, tmp_path):
    """Decision: every row must lie in the window, not only the counted ones (no ballot can be
    recorded outside it, so one that is shows a record or a clock that cannot be trusted)."""
    cycle = closed.a.cycle
    first = _cast_times(cycle.id)[0]
    cycle.voting_opens_at = first + timedelta(microseconds=1)  # row 1 (superseded by row 8) before it
    db.session.commit()
    path = download(client, auth, cycle.id, "csv", tmp_path)
    ours, alone = project_verify(runner, path), standalone(path)
    assert ours.exit_code == 1 and alone.returncode == 1
    for output in (ours.output, alone.stderr):
        assert "NOT VERIFIED: row 1 (line" in output and "a superseded ballot cast at" in output
        assert f"before voting opened ({window_text(cycle.voting_opens_at)})" in output
    cycle.voting_opens_at = first  # the opening itself is inside
    db.session.commit()
    path = download(client, auth, cycle.id, "csv", tmp_path)
    assert project_verify(runner, path).exit_code == 0 and standalone(path).returncode == 0


def test_an_edited_window_in_the_header_is_refused_or_named(closed, client, auth, runner, tmp_path):
    path = download(client, auth, closed.a.cycle.id, "json", tmp_path)
    document = json.loads(path.read_text(encoding="utf-8"))
    for change, expected in (
        ({"voting_opens_at": "28 Nov 2026"}, "voting_opens_at must be a UTC time"),
        ({"voting_closes_at": document["record"]["voting_opens_at"]}, "the voting window closes"),
        ({"voting_closes_at": document["ballots"][4]["cast_at"]}, "row 5: a counted ballot cast at"),
    ):
        edited = dict(document, record={**document["record"], **change})
        path.write_text(json.dumps(edited), encoding="utf-8")
        ours, alone = project_verify(runner, path), standalone(path)
        assert ours.exit_code == 1 and alone.returncode == 1, change
        assert expected in ours.output and expected in alone.stderr, (change, alone.stderr)
    del document["record"]["voting_closes_at"]
    path.write_text(json.dumps(document), encoding="utf-8")
    alone = standalone(path)
    assert alone.returncode == 1 and "the record's header has no voting_closes_at" in alone.stderr


# --- checkpoints ---------------------------------------------------------------------------------------


def rewrite(path: Path, row: int) -> None:
    """Rewrite a JSON record as a forger would: change one receipt and recompute the whole chain, so
    the record is intact in itself and counts to the same result; only an earlier head shows it."""
    document = json.loads(path.read_text(encoding="utf-8"))
    ballot = document["ballots"][row - 1]
    ballot["receipt"] = "ZZZZ-ZZZZ-ZZZZ"
    previous = genesis_hash(document["record"]["cycle"])
    for item in document["ballots"]:
        previous = next_hash(previous, canonical_row(
            seq=item["seq"], voter_code=item["voter_code"], version=item["version"],
            choices=[tuple(pair) for pair in item["choices"]], receipt=item["receipt"],
            cast_at=datetime.strptime(item["cast_at"], "%Y-%m-%dT%H:%M:%S.%fZ")))
        item["chain_hash"] = previous
    document["record"]["chain_head"] = previous
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")


def test_a_checkpoint_copied_while_voting_was_open_is_extended(world, client, auth, runner, tmp_path):
    place = world.a
    start = utcnow() - timedelta(minutes=30)
    for minute, voter in enumerate(place.residents):
        cast_ballot(db.session, CastingCycle.read(db.session, place.cycle), Voter.of_account(voter),
                    [(place.projects[0].id, 1)], "online", None, start + timedelta(minutes=minute))
    db.session.commit()
    copied = client.get(f"/api/v1/cycles/{place.cycle.id}/receipts").get_json()["head"]  # seq 3, while open
    receipt = client.get(f"/api/v1/receipts/{db.session.scalar(select(Ballot.receipt).where(Ballot.seq == 2))}")
    kept = receipt.get_json()  # a voter's own: seq 2 and the hash after it
    so_far = download(client, auth, place.cycle.id, "csv", tmp_path)
    checkpoint = f"{copied['seq']}:{copied['chain_hash']}"
    early = standalone(so_far, "--checkpoint", checkpoint)
    assert early.returncode == 0 and f"--checkpoint {checkpoint}" in early.stdout  # the so-far head, to keep
    cast_ballot(db.session, CastingCycle.read(db.session, place.cycle), Voter.of_account(place.residents[0]),
                [(place.projects[1].id, 1)], "online", None, start + timedelta(minutes=10))
    place.cycle.voting_closes_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    path = download(client, auth, place.cycle.id, "json", tmp_path)
    mine = f"{kept['seq']}:{kept['chain_hash'].upper()}"  # any case
    ours = project_verify(runner, path, "--checkpoint", checkpoint, "--checkpoint", mine)
    alone = standalone(path, "--checkpoint", checkpoint, "--checkpoint", mine)
    assert ours.exit_code == 0 and alone.returncode == 0, (ours.output, alone.stderr)
    for output in (ours.output, alone.stdout):
        assert f"checkpoint {checkpoint}: extended" in output and f"checkpoint 2:{kept['chain_hash']}: extended" \
            in output

    rewrite(path, row=2)
    assert standalone(path).returncode == 0  # intact in itself: without a checkpoint nothing shows
    for args, named in (([checkpoint], f"row 3: the record does not extend checkpoint 3:{copied['chain_hash'][:12]}"),
                        ([mine, checkpoint], f"row 2: the record does not extend checkpoint 2:{kept['chain_hash'][:12]}")):
        options = [part for value in args for part in ("--checkpoint", value)]
        ours, alone = project_verify(runner, path, *options), standalone(path, *options)
        assert ours.exit_code == 1 and alone.returncode == 1
        for output in (ours.output, alone.stderr):
            assert "NOT VERIFIED: " + named in output, output


def test_a_checkpoint_beyond_the_end_of_the_record_fails(closed, client, auth, runner, tmp_path):
    path = download(client, auth, closed.a.cycle.id, "csv", tmp_path)
    beyond = "9:" + "a" * 64
    ours, alone = project_verify(runner, path, "--checkpoint", beyond), standalone(path, "--checkpoint", beyond)
    assert ours.exit_code == 1 and alone.returncode == 1
    for output in (ours.output, alone.stderr):
        assert "the record does not extend checkpoint 9:aaaaaaaaaaaa" in output and "ends at seq 8" in output
    wrong = "8:" + "b" * 64
    alone = standalone(path, "--checkpoint", wrong)
    assert alone.returncode == 1 and "row 8 (line" in alone.stderr and "checkpoint 8:bbbbbbbbbbbb" in alone.stderr


@pytest.mark.parametrize("checkpoint, problem", [
    ("12", "a checkpoint is SEQ:HASH"), ("a:" + "c" * 64, "seq must be a whole number"),
    ("0:" + "c" * 64, "seq must be a whole number of 1 or more"), ("3:" + "g" * 64, "64 hexadecimal digits"),
    ("3:abc", "64 hexadecimal digits"), (":" + "c" * 64, "a checkpoint is SEQ:HASH"),
])
def test_a_malformed_checkpoint_is_a_usage_error(closed, client, auth, runner, tmp_path, checkpoint, problem):
    path = download(client, auth, closed.a.cycle.id, "csv", tmp_path)
    before = path.read_bytes()
    ours, alone = project_verify(runner, path, "--checkpoint", checkpoint), standalone(path, "--checkpoint", checkpoint)
    assert ours.exit_code == 2 and alone.returncode == 2, (ours.output, alone.stderr)
    for output in (ours.output, alone.stderr):
        assert problem in output and "--checkpoint" in output and "Traceback" not in output
    assert path.read_bytes() == before


def test_a_pb_file_has_no_chain_to_check(closed, client, auth, runner, tmp_path):
    path = download(client, auth, closed.a.cycle.id, "pb", tmp_path)
    refused = project_verify(runner, path, "--checkpoint", "1:" + "a" * 64)
    assert refused.exit_code == 2 and "has no hash chain" in refused.output
    assert project_verify(runner, path).exit_code == 0


# --- the count per worker ------------------------------------------------------------------------------


def test_the_auditor_downloads_the_count_per_worker(closed, client, auth):
    cycle = closed.a.cycle.id
    auth.login("auditor")
    page = client.get(f"/audit/cycles/{cycle}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert f'href="/cycles/{cycle}/assisted"' in page and f'href="/audit/cycles/{cycle}/workers.csv"' in page
    response = client.get(f"/audit/cycles/{cycle}/workers.csv")
    assert response.status_code == 200 and response.data.startswith("\ufeff".encode())
    assert "attachment; filename=worker-counts-ca-" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows == [["worker", "channel", "ballots"], ["'" + FORMULA_WORKER, "assisted", "1"],
                    ["grid-ca-1", "assisted", "1"]]
    db.session.expire_all()
    logged = db.session.scalars(select(ActionLogEntry).where(ActionLogEntry.action == "audit.download_worker_counts"))
    assert [(e.actor, e.community, json.loads(e.detail)) for e in logged] == [("auditor", "ca", {"cycle": cycle})]


# --- secrecy: tests/test_records_demo.py compares the record and the roll of the demo's real cycles ---


# --- so far, unknown, none ----------------------------------------------------------------------


def test_before_the_close_only_the_record_so_far(world, client, auth, runner, tmp_path):
    place = world.a
    cast_ballot(db.session, CastingCycle.read(db.session, place.cycle), Voter.of_account(place.residents[0]),
                [(place.projects[0].id, 1)], "online", None, utcnow())
    db.session.commit()
    auth.login("auditor")
    page = client.get(f"/audit/cycles/{place.cycle.id}", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "So far: voting is still open" in page.get_data(as_text=True)
    response = client.get(f"/api/v1/cycles/{place.cycle.id}/record", headers=auth.headers("auditor"))
    text = response.get_data(as_text=True)
    assert response.status_code == 200 and "status,so far" in text and "SO FAR" in text
    assert "selected" not in text and "ballots_counted" not in text
    path = tmp_path / "so-far.csv"
    path.write_bytes(response.data)
    alone = standalone(path)
    assert alone.returncode == 0 and "SO FAR" in alone.stdout and "not the result" in alone.stdout
    out = tmp_path / "cli.json"
    exported = runner.invoke(args=["export", "--cycle", str(place.cycle.id), "--format", "json",
                                   "--output", str(out)])
    assert exported.exit_code == 0 and "SO FAR" in exported.output
    assert json.loads(out.read_text(encoding="utf-8"))["record"]["status"] == "so far"
    assert db.session.get(CycleResult, place.cycle.id) is None  # no result before the close


@pytest.mark.parametrize("file_format", ["csv", "json", "xlsx", "pb"])
def test_voting_export_writes_each_format(closed, runner, tmp_path, file_format):
    out = tmp_path / f"r.{file_format}"
    result = runner.invoke(args=["export", "--cycle", str(closed.a.cycle.id), "--format", file_format,
                                 "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert runner.invoke(args=["verify", str(out)]).exit_code == 0
    assert not list(tmp_path.glob("*.part"))


def test_voting_export_refusals(closed, runner, tmp_path):
    unknown = runner.invoke(args=["export", "--cycle", "9999", "--format", "csv", "--output", str(tmp_path / "x")])
    assert unknown.exit_code == 1 and "no cycle 9999" in unknown.output and "Traceback" not in unknown.output
    nowhere = runner.invoke(args=["export", "--cycle", str(closed.a.cycle.id), "--format", "csv",
                                  "--output", str(tmp_path / "missing" / "x.csv")])
    assert nowhere.exit_code == 1 and "cannot write" in nowhere.output


def test_a_cycle_counted_before_the_system_has_no_record(world, client, auth, runner, tmp_path):
    world.b.cycle.voting_closes_at = utcnow() - timedelta(days=1)
    world.b.cycle.voting_opens_at = utcnow() - timedelta(days=9)
    for votes, project in zip((120, 90, 60, 30), world.b.projects):  # figures of a paper count
        project.votes = votes
    db.session.commit()
    result = runner.invoke(args=["export", "--cycle", str(world.b.cycle.id), "--format", "csv",
                                 "--output", str(tmp_path / "x.csv")])
    assert result.exit_code == 1 and "no ballot record" in result.output
    auth.login("auditor")
    page = client.get(f"/audit/cycles/{world.b.cycle.id}", headers={"Accept-Language": "en"})
    assert page.status_code == 200 and "no ballot record" in page.get_data(as_text=True)
    assert client.get(f"/audit/cycles/{world.b.cycle.id}/record.csv").status_code == 409
    assert db.session.get(CycleResult, world.b.cycle.id) is None
    home = client.get("/audit", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "no ballot recorded in this system" in home and f"/audit/cycles/{world.b.cycle.id}\"" not in home


def test_a_vote_nobody_cast_in_has_an_empty_record_that_verifies(world, client, auth, runner, tmp_path):
    world.b.cycle.voting_closes_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    auth.login("auditor")
    home = client.get("/audit", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert f"/audit/cycles/{world.b.cycle.id}\"" in home and "no ballot recorded in this system" not in home
    response = client.get(f"/audit/cycles/{world.b.cycle.id}/record.csv")
    assert response.status_code == 200
    path = tmp_path / "record.csv"
    path.write_bytes(response.data)
    checked = standalone(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert project_verify(runner, path).exit_code == 0
    stored = stored_result(world.b.cycle.id)
    assert stored.ballots_counted == 0 and stored.chain_seq == 0


# --- access and the action log -----------------------------------------------------------------------


@pytest.mark.parametrize("username, status", [(None, 401), ("resident-ca-1", 403), ("staff-ca", 403),
                                              ("grid-ca-1", 403), ("auditor", 200), ("admin", 200)])
def test_record_api_permissions(closed, client, auth, username, status):
    headers = auth.headers(username) if username else {}
    response = client.get(f"/api/v1/cycles/{closed.a.cycle.id}/record", headers=headers)
    assert response.status_code == status
    if status == 200:
        assert response.mimetype == "text/csv" and response.data.startswith("\ufeffRECORD".encode())
    else:
        assert response.get_json()["error"]["code"] in ("unauthorized", "forbidden")


def test_record_api_unknown_cycle(closed, client, auth):
    response = client.get("/api/v1/cycles/9999/record", headers=auth.headers("auditor"))
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "unknown_cycle"


@pytest.mark.parametrize("username", ["resident-ca-1", "staff-ca", "grid-ca-1"])
def test_others_may_not_download(closed, client, auth, username):
    auth.login(username)
    cycle = closed.a.cycle.id
    for url in ("/audit", f"/audit/cycles/{cycle}", f"/audit/cycles/{cycle}/record.csv",
                f"/audit/cycles/{cycle}/roll.csv"):
        assert client.get(url).status_code == 403, url


def test_every_download_is_in_the_action_log(closed, client, auth, tmp_path):
    cycle = closed.a.cycle.id
    for file_format in ("csv", "json", "xlsx", "pb"):
        download(client, auth, cycle, file_format, tmp_path)
    assert client.get(f"/audit/cycles/{cycle}/roll.csv").status_code == 200
    script = client.get("/audit/verify_record.py")
    assert script.status_code == 200 and script.data == VERIFIER.read_bytes()
    assert client.get(f"/api/v1/cycles/{cycle}/record", headers=auth.headers("admin")).status_code == 200
    db.session.expire_all()
    logged = db.session.scalars(select(ActionLogEntry).order_by(ActionLogEntry.seq)).all()
    downloads = [(e.actor, e.action, json.loads(e.detail).get("format"), json.loads(e.detail).get("via"))
                 for e in logged if e.action.startswith("audit.download")]
    assert downloads == [
        ("auditor", "audit.download_record", "csv", "page"), ("auditor", "audit.download_record", "json", "page"),
        ("auditor", "audit.download_record", "xlsx", "page"), ("auditor", "audit.download_record", "pb", "page"),
        ("auditor", "audit.download_roll", None, None), ("auditor", "audit.download_verifier", None, None),
        ("admin", "audit.download_record", "csv", "api"),
    ]
    assert all(e.community == "ca" for e in logged if e.action in ("audit.download_record", "audit.download_roll"))


def test_the_verifier_is_public(closed, client):
    response = client.get("/audit/verify_record.py")
    assert response.status_code == 200 and b"def main(" in response.data


def test_the_downloads_page_and_the_auditor_home(closed, client, auth):
    auth.login("auditor")
    home = client.get("/audit", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert f"/audit/cycles/{closed.a.cycle.id}" in home and f"/audit/cycles/{closed.b.cycle.id}" in home
    page = client.get(f"/audit/cycles/{closed.a.cycle.id}", headers={"Accept-Language": "en"})
    text = page.get_data(as_text=True)
    result = stored_result(closed.a.cycle.id)
    assert page.status_code == 200 and result.chain_head in text
    for link in ("record.csv", "record.json", "record.xlsx", "record.pb", "roll.csv", "/audit/log.csv",
                 "/audit/verify_record.py"):
        assert link in text, link
    results = client.get(f"/cycles/{closed.a.cycle.id}/results", headers={"Accept-Language": "en"})
    assert f"/audit/cycles/{closed.a.cycle.id}" in results.get_data(as_text=True)
    assert f"/cycles/{closed.a.cycle.id}/receipts" in results.get_data(as_text=True)


# --- the public bulletin board ------------------------------------------------------------------------


def test_the_bulletin_board_lists_every_receipt_and_nothing_else(closed, client):
    cycle = closed.a.cycle.id
    body = client.get(f"/api/v1/cycles/{cycle}/receipts").get_json()
    assert body["total"] == 8 and [r["seq"] for r in body["receipts"]] == list(range(1, 9))
    assert [r["superseded"] for r in body["receipts"]] == [True, False, True, False, False, False, False, False]
    assert all(set(r) == {"seq", "receipt", "recorded_at", "superseded", "chain_hash"} for r in body["receipts"])
    stored = db.session.scalars(select(Ballot.chain_hash).where(Ballot.cycle_id == cycle).order_by(Ballot.seq)).all()
    assert [r["chain_hash"] for r in body["receipts"]] == stored
    assert body["head"] == {"seq": 8, "chain_hash": stored[-1]} == {"seq": 8, "chain_hash": chain_head(cycle)}
    receipt = body["receipts"][0]["receipt"]
    check = client.get(f"/api/v1/receipts/{receipt}").get_json()
    assert check["found"] and check["superseded"] and check["recorded_at"] == body["receipts"][0]["recorded_at"]
    assert (check["seq"], check["chain_hash"]) == (1, stored[0])
    page = client.get(f"/cycles/{cycle}/receipts", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert receipt in page and "superseded by a later ballot" in page
    assert all(f'<code class="hash" translate="no">{h}</code>' in page for h in stored)
    # The head at the top, ready to copy as a checkpoint, before the list.
    head = page.index(f"--checkpoint 8:{stored[-1]}")
    assert "The latest chain head" in page[:head] and head < page.index(receipt)
    assert client.get("/api/v1/cycles/9999/receipts").status_code == 404


def chain_head(cycle_id: int) -> str:
    db.session.expire_all()
    return db.session.get(BallotChain, cycle_id).head_hash


def test_the_running_head_is_public_while_voting_is_open(world, client):
    place = world.a
    empty = client.get(f"/api/v1/cycles/{place.cycle.id}/receipts").get_json()
    assert empty["head"] == {"seq": 0, "chain_hash": genesis_hash(place.cycle.id)} and empty["receipts"] == []
    page = client.get(f"/cycles/{place.cycle.id}/receipts", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "No ballot has been recorded yet: the chain starts" in page and "--checkpoint" not in page
    for voter in place.residents[:2]:
        cast_ballot(db.session, CastingCycle.read(db.session, place.cycle), Voter.of_account(voter),
                    [(place.projects[0].id, 1)], "online", None, utcnow())
    db.session.commit()
    head = db.session.get(BallotChain, place.cycle.id)
    body = client.get(f"/api/v1/cycles/{place.cycle.id}/receipts").get_json()
    assert body["head"] == {"seq": 2, "chain_hash": head.head_hash}
    page = client.get(f"/cycles/{place.cycle.id}/receipts", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Voting is open: this is the list so far." in page
    assert f"python3 verify_record.py RECORD.csv --checkpoint 2:{head.head_hash}" in page


# --- every audit route, for every role ---------------------------------------------------------------

ROLES = (None, "resident-ca-1", "grid-ca-1", "staff-ca", "staff-cb", "admin", "auditor")
AUDITORS = ("admin", "auditor")
AUDIT_ROUTES = [  # (path with {cycle}, who may)
    ("/audit/log", AUDITORS), ("/audit/log.csv", AUDITORS), ("/audit", AUDITORS),
    ("/audit/cycles/{cycle}", AUDITORS), ("/audit/cycles/{cycle}/record.csv", AUDITORS),
    ("/audit/cycles/{cycle}/roll.csv", AUDITORS), ("/audit/cycles/{cycle}/workers.csv", AUDITORS),
    ("/audit/verify_record.py", ROLES),
    ("/cycles/{cycle}/receipts", ROLES), ("/api/v1/cycles/{cycle}/record", AUDITORS),
    ("/api/v1/cycles/{cycle}/receipts", ROLES),
]


@pytest.mark.parametrize("path, allowed", AUDIT_ROUTES)
def test_every_audit_route_answers_each_role(closed, app, path, allowed):
    url = path.format(cycle=closed.a.cycle.id)
    api = url.startswith("/api/")
    for role in ROLES:
        client = app.test_client()
        headers = {}
        if role and api:
            token = client.post("/api/v1/auth/token", json={"username": role, "password": "Test-Pass-1"})
            headers = {"Authorization": f"Bearer {token.get_json()['token']}"}
        elif role:
            client.post("/login", data={"username": role, "password": "Test-Pass-1"})
        db.session.commit()
        status = client.get(url, headers=headers).status_code
        if role in allowed:
            assert status == 200, (url, role, status)
        else:
            assert status == (403 if role else (401 if api else 302)), (url, role, status)


def test_the_matrix_covers_every_audit_route(app):
    ours = {rule.rule for rule in app.url_map.iter_rules()
            if app.view_functions[rule.endpoint].__module__.startswith("voting.audit")}
    listed = {path.replace("{cycle}", "<int:cycle_id>").replace("record.csv", "record.<file_format>")
              for path, _allowed in AUDIT_ROUTES}
    assert ours == listed


# --- The API's document and its refusals ------------------------------------------------------------

def test_the_document_says_the_record_is_csv_and_the_bulletin_is_paged(client):
    document = client.get("/api/v1/openapi.json").get_json()
    record = document["paths"]["/api/v1/cycles/{cycle_id}/record"]["get"]
    assert list(record["responses"]["200"]["content"]) == ["text/csv"] and record["security"]
    assert {"401", "403", "404", "409"} <= set(record["responses"])
    board = document["paths"]["/api/v1/cycles/{cycle_id}/receipts"]["get"]
    page, = [p for p in board["parameters"] if p["in"] == "query"]
    assert page["name"] == "page" and page["schema"]["type"] == "integer" and page["schema"]["minimum"] == 1
    answer = document["components"]["schemas"]["Bulletin"]
    assert {"cycle", "total", "page", "pages", "per_page", "head", "receipts"} == set(answer["required"])


@pytest.mark.parametrize("page, code", [("0", "out_of_range"), ("two", "not_a_number")])
def test_a_bulletin_page_outside_the_numbers_is_refused(world, client, page, code):
    response = client.get(f"/api/v1/cycles/{world.a.cycle.id}/receipts", query_string={"page": page})
    assert response.status_code == 422
    assert [(f["field"], f["code"]) for f in response.get_json()["error"]["fields"]] == [("page", code)]
    assert client.get(f"/api/v1/cycles/{world.a.cycle.id}/receipts?page=99").get_json()["page"] == 1

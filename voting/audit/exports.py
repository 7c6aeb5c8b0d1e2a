"""Writing a cycle's ballot record as CSV, JSON, XLSX or pabulib, and the voter roll, the count of
ballots per worker and the action log as CSV.

Every writer streams: it takes the header and the rows (`records.record_rows`, which reads the
database in batches; for CSV and JSON `records.record_lines`, the rows already written as lines by
the database) and yields text (CSV and JSON: UTF-8 bytes) in chunks, so a record of a million rows
never sits in memory. The layouts are what `verify_record.py` (the standalone verifier) reads:

CSV (UTF-8 with a byte-order mark, for Excel), four sections::

    RECORD                       then key,value rows: format, status, cycle, community, …,
                                      voting_opens_at, voting_closes_at, chain_seq, chain_head, …
    PROJECTS                     then project_id,cost,title,category
    BALLOTS                      then seq,voter_code,version,choices,cast_at,receipt,superseded,
                                      chain_hash (choices as "id:points,id:points")
    END,<number of ballot rows>  (a file cut short has no END)

Format `voting-record/2`: a ballot's row names no channel and no worker (the voter roll holds the
channel, and the count per worker comes from the roll), so the record and the roll share no column.

A cell a spreadsheet would run as a formula (beginning with = + - @, tab or carriage return) gets a
leading apostrophe, and so does a cell beginning with an apostrophe (`voting.spreadsheet.guard`);
the verifier removes it.

JSON: ``{"format", "record": {…}, "projects": […], "ballots": [one object per line], "rows": n}``.
XLSX: sheets "record", "projects" and "ballots" (the last row ``END, n``), written by openpyxl in
write-only mode. pabulib ``.pb``: the current ballots only, costs and fund in yuan, META ``rule``
naming the outcome rule, so that ``voting tally FILE.pb`` counts them to the published result.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from fractions import Fraction
from typing import BinaryIO, TextIO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from ..ballots.chain import format_cast_at
from ..money import yuan
from ..results.services import VOTE_TYPES
from ..spreadsheet import guard
from ..tally import Election, Project as TallyProject, pabulib_rule_name, write_pb
from .records import RECORD_FORMAT, RecordHeader, RecordRow, RollRow
from .services import as_row, entries

BALLOT_COLUMNS = ("seq", "voter_code", "version", "choices", "cast_at", "receipt", "superseded", "chain_hash")
PROJECT_COLUMNS = ("project_id", "cost", "title", "category")
ROLL_COLUMNS = ("grid", "grid_name", "name", "channel")
WORKER_COLUMNS = ("worker", "channel", "ballots")
LOG_COLUMNS = ("seq", "at", "actor", "role", "action", "community", "detail", "chain_hash")
FORMATS = ("csv", "json", "xlsx", "pb")
MIMETYPES = {
    "csv": "text/csv",  # Flask adds "; charset=utf-8" to text types
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pb": "text/plain",
}
CHUNK_ROWS = 2000
SO_FAR_NOTE = ("SO FAR: voting is still open. This is the record so far, not the result; "
               "no result is published before the close.")


def file_name(header: RecordHeader, extension: str) -> str:
    status = "" if header.is_final else "-so-far"
    return f"ballot-record-{header.community_code}-{header.year}-cycle{header.cycle_id}{status}.{extension}"


def header_values(header: RecordHeader) -> list[tuple[str, str]]:
    """The header as (key, value) text pairs, in the order the CSV and XLSX files list them."""
    values = [
        ("format", RECORD_FORMAT),
        ("status", header.status),
        ("cycle", str(header.cycle_id)),
        ("community", header.community_code),
        ("community_name", header.community_name),
        ("year", str(header.year)),
        ("fund", yuan(header.fund_fen)),
        ("method", header.method),
        ("min_choices", str(header.min_choices)),
        ("max_choices", _optional(header.max_choices)),
        ("points", _optional(header.points)),
        ("threshold", _optional(header.threshold)),
        ("threshold_percent", _optional(header.threshold_percent)),
        ("min_turnout_percent", _optional(header.min_turnout_percent)),
        ("unvoted_projects", unvoted_projects(header)),
        ("outcome_rule", header.outcome_rule),
        ("voting_opens_at", window_time(header.voting_opens_at)),
        ("voting_closes_at", window_time(header.voting_closes_at)),
        ("chain_seq", str(header.chain_seq)),
        ("chain_head", header.chain_head),
    ]
    if header.is_final:
        values += [("ballots_counted", str(header.ballots_counted)), ("eligible", _optional(header.eligible)),
                   ("selected", ",".join(map(str, header.selected)))]
    else:
        values.append(("note", SO_FAR_NOTE))
    values.append(("exported_at", format_cast_at(header.exported_at)))
    return values


def unvoted_projects(header: RecordHeader) -> str:
    """How the count treats projects without votes: never funded, except in a result counted before that."""
    return "fundable" if header.fund_unvoted else "never_funded"


def _optional(value) -> str:
    return "" if value is None else str(value)


def window_time(value) -> str:
    """A bound of the voting window as ISO 8601 UTC with a Z, to the microsecond as ballots' times
    are (empty for a bound the cycle never set)."""
    return "" if value is None else format_cast_at(value)


def _row_cells(row: RecordRow) -> list:
    """The row's cells as text and numbers (no free text: nothing to guard)."""
    return [row.seq, row.voter_code, row.version, row.choices, row.cast_at, row.receipt,
            "true" if row.superseded else "false", row.chain_hash]


# --- CSV ---------------------------------------------------------------------------------------------


def csv_chunks(header: RecordHeader, lines: Iterable[tuple[int, bytes]]) -> Iterator[bytes]:
    """The record as CSV (UTF-8), in chunks: the header sections, then the ballot rows as the
    database wrote them (`records.record_lines(…, "csv")`: batches of "\n"-ended lines, given CRLF
    ends here as the csv module writes them), then END."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(["RECORD"])
    writer.writerow(["key", "value"])
    writer.writerows((key, guard(value)) for key, value in header_values(header))
    writer.writerow(["PROJECTS"])
    writer.writerow(PROJECT_COLUMNS)
    writer.writerows((p.id, yuan(p.cost_fen), guard(p.title), guard(p.category)) for p in header.projects)
    writer.writerow(["BALLOTS"])
    writer.writerow(BALLOT_COLUMNS)
    yield buffer.getvalue().encode()
    rows = 0
    for count, block in lines:
        rows += count
        yield block.replace(b"\n", b"\r\n")
    yield f"END,{rows}\r\n".encode()


# --- JSON --------------------------------------------------------------------------------------------


def header_json(header: RecordHeader) -> dict:
    record = {
        "status": header.status, "cycle": header.cycle_id, "community": header.community_code,
        "community_name": header.community_name, "year": header.year, "fund": yuan(header.fund_fen),
        "method": header.method, "min_choices": header.min_choices, "max_choices": header.max_choices,
        "points": header.points, "threshold": header.threshold, "threshold_percent": header.threshold_percent,
        "min_turnout_percent": header.min_turnout_percent, "unvoted_projects": unvoted_projects(header),
        "outcome_rule": header.outcome_rule,
        "voting_opens_at": window_time(header.voting_opens_at) or None,
        "voting_closes_at": window_time(header.voting_closes_at) or None,
        "chain_seq": header.chain_seq, "chain_head": header.chain_head,
    }
    if header.is_final:
        record.update(ballots_counted=header.ballots_counted, eligible=header.eligible,
                      selected=list(header.selected))
    else:
        record["note"] = SO_FAR_NOTE
    record["exported_at"] = format_cast_at(header.exported_at)
    return record


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False)


def json_chunks(header: RecordHeader, lines: Iterable[tuple[int, bytes]]) -> Iterator[bytes]:
    """The record as JSON (UTF-8), one ballot per line, in chunks; the ballots as the database wrote
    them (`records.record_lines(…, "json")`: batches of "\n"-ended objects, joined here by ",\n")."""
    projects = [{"id": p.id, "cost": yuan(p.cost_fen), "title": p.title, "category": p.category}
                for p in header.projects]
    yield (f'{{"format": {_json(RECORD_FORMAT)},\n"record": {_json(header_json(header))},\n'
           f'"projects": {_json(projects)},\n"ballots": [').encode()
    rows = 0
    for count, block in lines:
        yield (b",\n" if rows else b"\n") + block[:-1].replace(b"\n", b",\n")
        rows += count
    yield f'\n],\n"rows": {rows}}}\n'.encode()


# --- XLSX --------------------------------------------------------------------------------------------


def write_xlsx(header: RecordHeader, rows: Iterable[RecordRow], target: str | BinaryIO) -> None:
    """The record as an XLSX workbook (openpyxl write-only: rows go straight to disk)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("record")

    def text(value) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, value=guard(str(value)))
        cell.data_type = "s"  # never a formula, whatever it begins with
        return cell

    sheet.append([text("key"), text("value")])
    for key, value in header_values(header):
        sheet.append([text(key), text(value)])
    sheet = book.create_sheet("projects")
    sheet.append([text(name) for name in PROJECT_COLUMNS])
    for p in header.projects:
        sheet.append([p.id, text(yuan(p.cost_fen)), text(p.title), text(p.category)])
    sheet = book.create_sheet("ballots")
    sheet.append([text(name) for name in BALLOT_COLUMNS])
    count = 0
    for count, row in enumerate(rows, start=1):
        cells = _row_cells(row)
        sheet.append([cells[0], text(cells[1]), cells[2], *(text(value) for value in cells[3:])])
    sheet.append([text("END"), count])
    book.save(target)


# --- pabulib -----------------------------------------------------------------------------------------


def write_pabulib(header: RecordHeader, current: Iterable[tuple[tuple[int, int], ...]], stream: TextIO) -> None:
    """The current ballots as a pabulib file (money in yuan), which `voting tally` counts with the
    cycle's rule and pabulib's semantics. The service's own guards are in META for `voting verify`
    (`unvoted_projects`, `threshold_percent`, `min_turnout_percent` with `eligible`): it counts as
    the service did, so it gives the published result when the record is final; `voting tally` may
    fund a project without votes that the service did not (pabulib's greedy funds what fits)."""
    projects = [TallyProject(p.id, Fraction(p.cost_fen, 100), name=p.title, category=p.category)
                for p in header.projects]
    if header.method == "cumulative":
        ballots = [dict(choices) for choices in current]
    else:
        ballots = [[project for project, _points in choices] for choices in current]
    meta = {
        "description": f"{header.community_name} {header.year}: ballot record of cycle {header.cycle_id}"
                       + ("" if header.is_final else " (SO FAR: voting still open, not the result)"),
        "country": "China", "unit": header.community_name, "instance": str(header.year),
        "currency": "CNY", "rule": pabulib_rule_name(header.outcome_rule), "status": header.status,
        "voting_opens_at": window_time(header.voting_opens_at),
        "voting_closes_at": window_time(header.voting_closes_at),
        "chain_seq": str(header.chain_seq), "chain_head": header.chain_head,
        "unvoted_projects": unvoted_projects(header),
    }
    if header.threshold_percent is not None:
        meta["threshold_percent"] = str(header.threshold_percent)
    if header.min_turnout_percent is not None:
        meta["min_turnout_percent"] = str(header.min_turnout_percent)
    if header.is_final:
        meta.update(ballots_counted=str(header.ballots_counted), eligible=_optional(header.eligible),
                    selected=",".join(map(str, header.selected)))
    election = Election.from_values(projects, Fraction(header.fund_fen, 100), ballots,
                                    vote_type=VOTE_TYPES[header.method], threshold=header.threshold, meta=meta)
    write_pb(election, stream)


# --- the voter roll ----------------------------------------------------------------------------------


def roll_csv_chunks(rows: Iterable[RollRow]) -> Iterator[str]:
    """Who voted and by which channel, as CSV (UTF-8 with a byte-order mark)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(ROLL_COLUMNS)
    for count, row in enumerate(rows, start=1):
        writer.writerow([guard(row.grid), guard(row.grid_name), guard(row.name), row.channel])
        if count % CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def worker_csv_chunks(rows: Iterable) -> Iterator[str]:
    """How many ballots each worker entered by each channel (`ballots.services.WorkerCount`), as CSV
    (UTF-8 with a byte-order mark; the worker's username guarded against formulas)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(WORKER_COLUMNS)
    writer.writerows((guard(row.worker), row.channel, row.ballots) for row in rows)
    yield buffer.getvalue()


# --- the action log ----------------------------------------------------------------------------------


def log_csv_chunks(session) -> Iterator[str]:
    """The whole action log in seq order, as CSV (UTF-8 with a byte-order mark), its cells guarded."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LOG_COLUMNS)
    buffer.write("\ufeff")
    writer.writeheader()
    for count, entry in enumerate(entries(session), start=1):
        writer.writerow({key: guard(value) for key, value in as_row(entry).items()})
        if count % CHUNK_ROWS == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()

"""Read and write pabulib ``.pb`` files (https://pabulib.org/format).

A file has three sections in this order, each a ``;``-separated table whose first row names the
columns: ``META`` (``key;value``), ``PROJECTS`` (at least ``project_id`` and ``cost``) and ``VOTES``
(at least ``vote``, a ``,``-separated list of project ids; ``points`` alongside it for cumulative
and scoring ballots, optionally for ordinal ones). META must give ``budget`` and ``vote_type``.

Quirks of real files that are read as meant: a UTF-8 byte-order mark; CRLF or CR line ends; quoted
fields with ``;`` or doubled quotes inside; stray quote characters inside unquoted fields; string
project ids; decimal budgets, costs and points (kept exact); blank lines; a ballot naming the same
project twice (counted once, the first time; the election's ``notes`` say where).

Anything else wrong raises :class:`PabulibError` with the 1-based line number of the problem.
"""
from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO

from .amounts import Amount, format_amount, parse_decimal
from .election import POINTS_TYPES, VOTE_TYPES, Ballot, Election, Project, ProjectId

SECTIONS = ("meta", "projects", "votes")


class PabulibError(ValueError):
    """A malformed pabulib file: ``line`` is the 1-based line of the problem."""

    def __init__(self, line: int, problem: str):
        super().__init__(f"line {line}: {problem}")
        self.line = line
        self.problem = problem


def read_pb(source: str | os.PathLike | BinaryIO) -> Election:
    """Read a pabulib file from a path or a binary stream.

    :raises PabulibError: when the file is malformed (the error names the line).
    """
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as stream:
            return parse_pb(stream.read())
    return parse_pb(source.read())


def parse_pb(data: bytes) -> Election:
    """Parse the bytes of a pabulib file.

    :raises PabulibError: when the file is malformed (the error names the line).
    """
    sections = _split_sections(_rows(_decode(data)))
    meta = _read_meta(sections["meta"])
    projects = _read_projects(sections["projects"])
    ballots, points, notes = _read_votes(sections["votes"], meta.vote_type, projects)
    return Election(
        projects={project.id: project for project in projects},
        budget=meta.budget,
        ballots=ballots,
        points=points,
        vote_type=meta.vote_type,
        min_length=meta.min_length,
        max_length=meta.max_length,
        threshold=meta.threshold,
        meta=meta.values,
        notes=notes,
    )


# --- text, rows and sections -------------------------------------------------------------------


@dataclass
class _Row:
    line: int
    cells: list[str]


@dataclass
class _Section:
    line: int
    header: list[str] = field(default_factory=list)
    header_line: int = 0
    rows: list[_Row] = field(default_factory=list)


def _decode(data: bytes) -> list[str]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise PabulibError(line, f"not UTF-8 text (byte 0x{data[error.start]:02x})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _rows(lines: list[str]) -> Iterator[_Row]:
    reader = csv.reader(lines, delimiter=";", strict=True)
    line = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            _check_one_line(reader.line_num, line)
            raise PabulibError(reader.line_num, f"badly quoted field ({error})") from None
        _check_one_line(reader.line_num, line)
        line = reader.line_num
        if any(cell.strip() for cell in cells):
            yield _Row(line, cells)


def _check_one_line(line_now: int, line_before: int) -> None:
    """Refuse records spanning lines: pabulib rows are one line each, so the quote is unclosed."""
    if line_now > line_before + 1:
        raise PabulibError(line_before + 1, "a quoted field is not closed on its line")


def _split_sections(rows: Iterator[_Row]) -> dict[str, _Section]:
    sections: dict[str, _Section] = {}
    current: _Section | None = None
    last_line = 0
    for row in rows:
        last_line = row.line
        name = _section_name(row)
        if name:
            current = _start_section(sections, name, row)
        elif current is None:
            raise PabulibError(row.line, "the file must start with a META section")
        elif not current.header:
            current.header = [cell.strip() for cell in row.cells]
            current.header_line = row.line
        else:
            current.rows.append(row)
    for name in SECTIONS:
        if name not in sections:
            raise PabulibError(max(last_line, 1), f"missing {name.upper()} section")
        if not sections[name].header:
            raise PabulibError(sections[name].line, f"the {name.upper()} section has no header row")
    return sections


def _section_name(row: _Row) -> str | None:
    name = row.cells[0].strip().lower()
    if name in SECTIONS and not any(cell.strip() for cell in row.cells[1:]):
        return name
    return None


def _start_section(sections: dict[str, _Section], name: str, row: _Row) -> _Section:
    expected = SECTIONS[len(sections)] if len(sections) < len(SECTIONS) else None
    if name in sections:
        raise PabulibError(row.line, f"second {name.upper()} section")
    if name != expected:
        raise PabulibError(row.line, f"{name.upper()} section before the {expected.upper()} section")
    sections[name] = _Section(row.line)
    return sections[name]


# --- META ---------------------------------------------------------------------------------------


@dataclass
class _Meta:
    values: dict[str, str]
    budget: Amount
    vote_type: str
    min_length: int | None
    max_length: int | None
    threshold: Amount | None


def _read_meta(section: _Section) -> _Meta:
    values: dict[str, str] = {}
    lines: dict[str, int] = {}
    for row in section.rows:
        if len(row.cells) < 2:
            raise PabulibError(row.line, "a META row needs a key and a value")
        key = row.cells[0].strip()
        values[key] = ";".join(row.cells[1:]).strip()
        lines[key] = row.line
    for required in ("budget", "vote_type"):
        if required not in values:
            raise PabulibError(section.line, f"META has no {required}")
    vote_type = values["vote_type"]
    if vote_type not in VOTE_TYPES:
        expected = ", ".join(sorted(VOTE_TYPES))
        raise PabulibError(lines["vote_type"], f"unknown vote_type '{vote_type}'; expected one of {expected}")
    return _Meta(
        values=values,
        budget=_number(values["budget"], lines["budget"], "budget"),
        vote_type=vote_type,
        min_length=_optional_count(values, lines, "min_length"),
        max_length=_optional_count(values, lines, "max_length"),
        threshold=_optional_number(values, lines, "min_project_score_threshold"),
    )


def _optional_count(values: dict[str, str], lines: dict[str, int], key: str) -> int | None:
    if key not in values:
        return None
    count = _number(values[key], lines[key], key)
    if not isinstance(count, int):
        raise PabulibError(lines[key], f"{key} must be a whole number, not '{values[key]}'")
    return count


def _optional_number(values: dict[str, str], lines: dict[str, int], key: str) -> Amount | None:
    return _number(values[key], lines[key], key) if key in values else None


def _number(text: str, line: int, what: str) -> Amount:
    try:
        return parse_decimal(text)
    except ValueError as error:
        raise PabulibError(line, f"bad {what}: {error}") from None


# --- PROJECTS -----------------------------------------------------------------------------------


def _read_projects(section: _Section) -> list[Project]:
    columns = _columns(section, "PROJECTS", required=("project_id", "cost"))
    projects: dict[str, Project] = {}
    for row in section.rows:
        cells = _cells(row, section.header)
        project_id = cells[columns["project_id"]].strip()
        if not project_id:
            raise PabulibError(row.line, "empty project_id")
        if project_id in projects:
            raise PabulibError(row.line, f"project '{project_id}' is listed twice")
        projects[project_id] = Project(
            id=project_id,
            cost=_number(cells[columns["cost"]], row.line, f"cost of project '{project_id}'"),
            name=_optional_cell(cells, columns, "name"),
            category=_optional_cell(cells, columns, "category", "categories"),
        )
    return list(projects.values())


def _columns(section: _Section, title: str, required: tuple[str, ...]) -> dict[str, int]:
    columns = {name: index for index, name in enumerate(section.header)}
    for name in required:
        if name not in columns:
            raise PabulibError(section.header_line, f"the {title} header has no '{name}' column")
    return columns


def _cells(row: _Row, header: list[str]) -> list[str]:
    if len(row.cells) != len(header):
        raise PabulibError(row.line, f"expected {len(header)} fields, found {len(row.cells)}")
    return row.cells


def _optional_cell(cells: list[str], columns: dict[str, int], *names: str) -> str:
    for name in names:
        if name in columns:
            return cells[columns[name]].strip()
    return ""


# --- VOTES --------------------------------------------------------------------------------------


def _read_votes(
    section: _Section, vote_type: str, projects: list[Project]
) -> tuple[tuple[Ballot, ...], tuple[tuple[Amount, ...], ...] | None, tuple[str, ...]]:
    columns = _columns(section, "VOTES", required=("vote",))
    with_points = vote_type in POINTS_TYPES or (vote_type == "ordinal" and "points" in columns)
    if with_points and "points" not in columns:
        raise PabulibError(section.header_line, f"{vote_type} votes need a 'points' column")
    known = {project.id for project in projects}
    ballots: list[Ballot] = []
    points: list[tuple[Amount, ...]] = []
    notes: list[str] = []
    for row in section.rows:
        cells = _cells(row, section.header)
        ids = _split_list(cells[columns["vote"]])
        _check_projects(ids, known, row.line)
        row_points = _ballot_points(cells[columns["points"]], ids, row.line) if with_points else ()
        ids, row_points = _first_mentions(ids, row_points, row.line, notes)
        ballots.append(ids)
        points.append(row_points)
    return tuple(ballots), tuple(points) if with_points else None, tuple(notes)


def _split_list(cell: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in cell.split(",") if item.strip())


def _check_projects(ids: tuple[str, ...], known: set[str], line: int) -> None:
    for project_id in ids:
        if project_id not in known:
            raise PabulibError(line, f"the vote names project '{project_id}', which is not in PROJECTS")


def _ballot_points(cell: str, ids: tuple[str, ...], line: int) -> tuple[Amount, ...]:
    texts = _split_list(cell)
    if len(texts) != len(ids):
        raise PabulibError(line, f"{len(ids)} projects but {len(texts)} points")
    return tuple(_number(text, line, "points") for text in texts)


def _first_mentions(
    ids: tuple[str, ...], points: tuple[Amount, ...], line: int, notes: list[str]
) -> tuple[Ballot, tuple[Amount, ...]]:
    if len(set(ids)) == len(ids):
        return ids, points
    first: dict[str, int] = {}
    for index, project_id in enumerate(ids):
        first.setdefault(project_id, index)
    repeated = [project_id for project_id in first if ids.count(project_id) > 1]
    notes.append(f"line {line}: the vote names {', '.join(repeated)} more than once; counted once")
    kept = first.values()
    return tuple(ids[i] for i in kept), tuple(points[i] for i in kept) if points else ()


# --- writing ------------------------------------------------------------------------------------


def write_pb(election: Election, stream: TextIO) -> None:
    """Write ``election`` as a pabulib file that :func:`read_pb` reads back to the same tally.

    Voters are numbered 1, 2, ... in ballot order (no names or receipts: the ballot record stays
    pseudonymous). Line breaks inside names and META values are written as spaces.

    :raises ValueError: when an amount has no finite decimal form (such as a cost of 1/3), or a
        project id is empty, has surrounding spaces or contains a comma.
    """
    writer = csv.writer(stream, delimiter=";", lineterminator="\n")
    _write_meta(writer, election)
    _write_projects(writer, election)
    _write_votes(writer, election)


def _write_meta(writer, election: Election) -> None:
    meta = dict(election.meta)
    meta.update(
        num_projects=str(len(election.projects)),
        num_votes=str(len(election.ballots)),
        budget=format_amount(election.budget),
        vote_type=election.vote_type,
    )
    optional = {
        "min_length": election.min_length,
        "max_length": election.max_length,
        "min_project_score_threshold": election.threshold,
    }
    for key, value in optional.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = format_amount(value)
    writer.writerow(["META"])
    writer.writerow(["key", "value"])
    writer.writerows([key, _one_line(value)] for key, value in meta.items())


def _write_projects(writer, election: Election) -> None:
    writer.writerow(["PROJECTS"])
    writer.writerow(["project_id", "cost", "votes", "score", "name", "category"])
    for project in election.projects.values():
        writer.writerow(
            [
                _id_cell(project.id),
                format_amount(project.cost),
                election.votes[project.id],
                format_amount(election.scores[project.id]),
                _one_line(project.name),
                _one_line(project.category),
            ]
        )


def _write_votes(writer, election: Election) -> None:
    writer.writerow(["VOTES"])
    with_points = election.points is not None
    writer.writerow(["voter_id", "vote", "points"] if with_points else ["voter_id", "vote"])
    for number, (ballot, points) in enumerate(election.weighted_ballots(), start=1):
        row = [number, _join_ids(ballot)]
        if with_points:
            row.append(",".join(format_amount(point) for point in points))
        writer.writerow(row)


def _join_ids(ballot: Ballot) -> str:
    return ",".join(str(project_id) for project_id in ballot)


def _id_cell(project_id: ProjectId) -> str:
    text = str(project_id)
    if not text or text != text.strip() or "," in text:
        raise ValueError(f"project id {project_id!r} cannot be written to a pabulib file")
    return text


def _one_line(text: str) -> str:
    return " ".join(str(text).splitlines())

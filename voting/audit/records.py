"""The ballot record of a cycle, read for export: its header, its rows streamed in `seq` order, the
voter roll, and the public bulletin board of receipts.

The record (format `voting-record/2`) has one row per recorded ballot version (seq, pseudonymous
voter code, version, choices with points, cast time, receipt, superseded, chain hash): what the
hash chain of `voting/ballots/chain.py` covers, plus the superseded flag. Its header names the
cycle, the rules, the voting window, the projects and, once voting closed, the published result
and chain head. Before the close a record is only ever the record *so far* (status "so far"), up
to the chain head read when the export began; it carries no result.

Secrecy: nothing in the record names a resident. The voter code is an HMAC under the server's
key; the roll (name, grid, channel of who voted) carries no voter code, no time and no order of
voting (it is sorted by grid and name), and the record no channel, worker or grid: the two share
no attribute but the cycle, so they cannot be joined. Which worker entered how many ballots is
counted from the roll (`ballots.services.worker_counts`), never on a ballot's row.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from flask_babel import gettext as _
from sqlalchemy import func, select

from ..ballots.chain import genesis_hash
from ..ballots.models import Ballot, BallotChain, RollEntry
from ..cycles.models import Cycle
from ..errors import Conflict
from ..geography.models import Community, Grid
from ..proposals.ballot import ballot_projects
from ..residents.models import Resident
from ..results.services import (
    AFTER_VOTING, counted_offline, counted_offline_clause, ensure_result, funded_unvoted, selected_ids,
)

RECORD_FORMAT = "voting-record/2"
FINAL, SO_FAR = "final", "so far"
BATCH = 5000
BULLETIN_PAGE = 500


@dataclass(frozen=True)
class RecordProject:
    id: int
    cost_fen: int
    title: str
    category: str


@dataclass(frozen=True)
class RecordHeader:
    """What a record says about its cycle, and the result it must count to (when final)."""

    cycle_id: int
    community_code: str
    community_name: str
    year: int
    fund_fen: int
    method: str
    min_choices: int
    max_choices: int | None
    points: int | None
    threshold: int | None
    outcome_rule: str
    # The voting window, naive UTC: every ballot of the record was cast within [opens, closes) (None:
    # a bound the cycle never set).
    voting_opens_at: datetime | None
    voting_closes_at: datetime | None
    status: str  # FINAL or SO_FAR
    chain_seq: int
    chain_head: str
    ballots_counted: int | None
    selected: tuple[int, ...] | None
    exported_at: datetime
    projects: tuple[RecordProject, ...]
    threshold_percent: int | None = None
    min_turnout_percent: int | None = None
    eligible: int | None = None  # the electorate (final records)
    # Whether the count may fund a project without votes: only a result counted before that guard.
    fund_unvoted: bool = False

    @property
    def is_final(self) -> bool:
        return self.status == FINAL


class RecordRow(NamedTuple):
    """One recorded ballot version, its times and choices already in the chain's canonical text."""

    seq: int
    voter_code: str
    version: int
    choices: str  # "project id:points,…" ascending by project id, as the chain hashes it
    cast_at: str  # UTC, ISO 8601 with microseconds and Z, as the chain hashes it
    receipt: str
    superseded: bool
    chain_hash: str

    def choice_pairs(self) -> list[tuple[int, int]]:
        return [tuple(map(int, pair.split(":"))) for pair in self.choices.split(",")] if self.choices else []


def record_header(session, cycle: Cycle, now: datetime) -> RecordHeader:
    """The header of the cycle's record: final (with the published result) once voting closed,
    else the record so far, up to the chain head as it is now.

    The result is computed and stored if nobody needed it yet since the close.

    :raises Conflict: no_ballot_record for a cycle counted before online voting (`counted_offline`).
        A vote in this system has a record even with no ballot: empty, with the count of no ballots.
    """
    chain = session.get(BallotChain, cycle.id)
    if cycle.current_phase(now) in AFTER_VOTING:
        if counted_offline(session, cycle):
            raise Conflict(_("No ballot of this cycle was recorded in this system, so it has no ballot record."),
                           "no_ballot_record")
        result = ensure_result(session, cycle, now)
        status, seq, head = FINAL, result.chain_seq, result.chain_head
        counted, selected = result.ballots_counted, tuple(selected_ids(result))
        eligible, fund_unvoted = result.eligible_voters, funded_unvoted(result)
    else:
        status, counted, selected = SO_FAR, None, None
        eligible, fund_unvoted = None, False
        seq, head = (chain.last_seq, chain.head_hash) if chain else (0, genesis_hash(cycle.id))
    projects = tuple(RecordProject(p.id, p.ballot_cost_fen, p.title, p.category)
                     for p in ballot_projects(session, cycle))
    community = cycle.community
    return RecordHeader(
        cycle_id=cycle.id, community_code=community.code, community_name=community.name, year=cycle.year,
        fund_fen=cycle.fund_fen, method=cycle.method, min_choices=cycle.min_choices, max_choices=cycle.max_choices,
        points=cycle.points, threshold=cycle.threshold, outcome_rule=cycle.outcome_rule,
        voting_opens_at=cycle.voting_opens_at, voting_closes_at=cycle.voting_closes_at, status=status,
        chain_seq=seq, chain_head=head, ballots_counted=counted, selected=selected, exported_at=now,
        projects=projects, threshold_percent=cycle.threshold_percent,
        min_turnout_percent=cycle.min_turnout_percent, eligible=eligible, fund_unvoted=fund_unvoted,
    )


_RECORD_SQL = """
SELECT b.seq, b.voter_code, b.version, {cast_at}, b.receipt, {superseded}, b.chain_hash, {choices}
FROM ballot b
WHERE b.cycle_id = {cycle} AND b.seq <= {last}
ORDER BY b.seq
"""
# The chain's text of a ballot's choices ("id:points,…" ascending by id) and of its time, made by
# the database: a million-row export spends its time here, and this halves it.
_CHOICES = {
    "postgresql": "(SELECT string_agg(c.project_id || ':' || c.points, ',' ORDER BY c.project_id)"
                  " FROM ballot_choice c WHERE c.ballot_id = b.id)",
    "sqlite": "(SELECT group_concat(x, ',') FROM (SELECT c.project_id || ':' || c.points AS x"
              " FROM ballot_choice c WHERE c.ballot_id = b.id ORDER BY c.project_id))",
}
_CAST_AT = {
    "postgresql": """to_char(b.cast_at, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')""",
    "sqlite": "replace(b.cast_at, ' ', 'T') || 'Z'",  # stored as 2026-11-28 08:30:05.000123
}
_FINAL_SUPERSEDED = "NOT b.is_current"
_SO_FAR_SUPERSEDED = """EXISTS (SELECT 1 FROM ballot later WHERE later.cycle_id = b.cycle_id
    AND later.voter_code = b.voter_code AND later.version > b.version AND later.seq <= {last})"""


def record_rows(session, header: RecordHeader) -> Iterator[RecordRow]:
    """Every recorded ballot version up to the header's chain head, in seq order, streamed.

    A final record's superseded flags are the ballots' own; in a record so far, a row is superseded
    when a later version of the voter is within the record (later ballots are not in it).

    This is the one hot loop of a million-row export: it reads plain driver rows, the choices and
    the time already written as the chain's text by the database, without ORM or type processing.
    """
    connection = session.connection()
    dialect = connection.dialect.name
    last = int(header.chain_seq)
    sql = _RECORD_SQL.format(
        cast_at=_CAST_AT[dialect], choices=_CHOICES[dialect], cycle=int(header.cycle_id), last=last,
        superseded=_FINAL_SUPERSEDED if header.is_final else _SO_FAR_SUPERSEDED.format(last=last),
    )
    # Options for this statement only: set on the connection they would stay for the session's next ones.
    # Closed also when the reader stops early (a download abandoned or failed midway): on PostgreSQL
    # it is a server-side cursor, which would otherwise stay open until the connection goes back.
    with connection.exec_driver_sql(sql, execution_options={"yield_per": BATCH}) as result:
        for rows in result.partitions(BATCH):
            for seq, code, version, cast_at, receipt, gone, chain_hash, choices in rows:
                yield RecordRow(seq, code, version, choices or "", cast_at, receipt, bool(gone), chain_hash)


# A row of the record as one line of text, written by the database: a million-row export is then one
# text value a row through the driver (or, on PostgreSQL, COPY's bytes), nothing to convert or format
# in Python. Every cell is digits, hex, a fixed word, a receipt or a time: none needs escaping.
_LINES = {
    # seq,voter_code,version,"choices",cast_at,receipt,superseded,chain_hash (as exports.csv_chunks heads it)
    "csv": """b.seq || ',' || b.voter_code || ',' || b.version || ',"' || coalesce({choices}, '') || '",'
        || {cast_at} || ',' || b.receipt || ',' || CASE WHEN {superseded} THEN 'true' ELSE 'false' END
        || ',' || b.chain_hash""",
    # one object of the JSON record's "ballots" list, its choices as [[id, points], …]
    "json": """'{{"seq": ' || b.seq || ', "voter_code": "' || b.voter_code || '", "version": ' || b.version
        || ', "choices": [' || coalesce({json_choices}, '') || '], "cast_at": "' || {cast_at}
        || '", "receipt": "' || b.receipt || '", "superseded": '
        || CASE WHEN {superseded} THEN 'true' ELSE 'false' END || ', "chain_hash": "' || b.chain_hash || '"}}'""",
}
_JSON_CHOICES = {
    "postgresql": "(SELECT string_agg('[' || c.project_id || ',' || c.points || ']', ',' ORDER BY c.project_id)"
                  " FROM ballot_choice c WHERE c.ballot_id = b.id)",
    "sqlite": "(SELECT group_concat(x, ',') FROM (SELECT '[' || c.project_id || ',' || c.points || ']' AS x"
              " FROM ballot_choice c WHERE c.ballot_id = b.id ORDER BY c.project_id))",
}
LINE_BATCH = 20_000


def record_lines(session, header: RecordHeader, layout: str) -> Iterator[tuple[int, bytes]]:
    """The record's rows up to the header's chain head, in seq order, as lines of `layout` ("csv" or
    "json", see `_LINES`) written by the database: (number of lines, the lines as UTF-8, each ending
    in "\n"), `LINE_BATCH` lines at a time.

    Read through the driver's own cursor in large batches, one text value a row (on PostgreSQL a
    server-side cursor: the rows stream, never all in memory), in the session's transaction, as
    `record_header` was. The cursor is closed also when the reader stops early (a download
    abandoned or failed midway).
    """
    connection = session.connection()
    dialect = connection.dialect.name
    last = int(header.chain_seq)
    line = _LINES[layout].format(
        cast_at=_CAST_AT[dialect], choices=_CHOICES[dialect], json_choices=_JSON_CHOICES[dialect],
        superseded=_FINAL_SUPERSEDED if header.is_final else _SO_FAR_SUPERSEDED.format(last=last),
    )
    sql = f"SELECT {line} FROM ballot b WHERE b.cycle_id = {int(header.cycle_id)} AND b.seq <= {last} ORDER BY b.seq"
    driver = connection.connection.driver_connection
    if dialect == "postgresql":
        cursor = driver.cursor(name="record_lines")
        cursor.itersize = LINE_BATCH
    else:
        cursor = driver.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(LINE_BATCH):
            yield len(rows), ("\n".join([row[0] for row in rows]) + "\n").encode()
    finally:
        cursor.close()


def current_ballots(session, header: RecordHeader) -> Iterator[tuple[tuple[int, int], ...]]:
    """The choices of every voter's current ballot within the record, in seq order (for .pb)."""
    for row in record_rows(session, header):
        if not row.superseded:
            yield tuple(row.choice_pairs())


@dataclass(frozen=True)
class RollRow:
    grid: str
    grid_name: str
    name: str
    channel: str


def roll_rows(session, cycle_id: int) -> Iterator[RollRow]:
    """Who voted in the cycle and by which channel (of their latest ballot), by grid and name.

    No voter code, no time and not the order of voting: nothing to join with the ballot record.
    Takes the cycle's id, not the cycle: the rows stream after the view that found the cycle.
    """
    stmt = (
        select(Grid.code, Grid.name, Resident.name, RollEntry.channel)
        .join(Resident, Resident.id == RollEntry.resident_id)
        .join(Grid, Grid.id == Resident.grid_id)
        .where(RollEntry.cycle_id == cycle_id, RollEntry.has_voted)
        .order_by(Grid.code, Resident.name, Resident.id)
    )
    with session.execute(stmt.execution_options(yield_per=BATCH)) as result:  # closed however the reader stops
        for rows in result.partitions(BATCH):
            for grid, grid_name, name, channel in rows:
                yield RollRow(grid, grid_name, name, channel)


@dataclass(frozen=True)
class BulletinEntry:
    seq: int
    receipt: str
    recorded_at: datetime
    superseded: bool
    chain_hash: str  # the chain's hash after this ballot


@dataclass(frozen=True)
class BulletinPage:
    total: int  # = head_seq: the ballots recorded so far
    page: int
    pages: int
    per_page: int
    entries: list[BulletinEntry]
    head_hash: str  # the running head: the chain's hash after ballot `total` (the genesis before any)

    @property
    def head_seq(self) -> int:
        return self.total

    @property
    def checkpoint(self) -> str:
        """The head as the verifiers' `--checkpoint SEQ:HASH` takes it."""
        return f"{self.total}:{self.head_hash}"


def bulletin_page(session, cycle: Cycle, page: int, per_page: int = BULLETIN_PAGE) -> BulletinPage:
    """One page of the cycle's public bulletin board: every receipt with the time it was recorded and
    the chain's hash after it, in seq order, superseded or not, and the running head (public while
    voting is open, so anyone may copy it as a checkpoint the final record must extend). No choices
    and no voter codes: nothing that leads to a person."""
    chain = session.get(BallotChain, cycle.id)
    total, head = (chain.last_seq, chain.head_hash) if chain else (0, genesis_hash(cycle.id))
    pages = max(1, -(-total // per_page))
    page = min(max(1, page), pages)
    rows = session.execute(
        select(Ballot.seq, Ballot.receipt, Ballot.cast_at, Ballot.is_current, Ballot.chain_hash)
        .where(Ballot.cycle_id == cycle.id, Ballot.seq > (page - 1) * per_page, Ballot.seq <= page * per_page,
               Ballot.seq <= total)
        .order_by(Ballot.seq)
    )
    entries = [BulletinEntry(seq, receipt, cast_at, not current, chain_hash)
               for seq, receipt, cast_at, current, chain_hash in rows]
    return BulletinPage(total, page, pages, per_page, entries, head)


def audit_cycles(session) -> list[tuple[Cycle, int, bool]]:
    """Every cycle of the district with the length of its ballot chain and whether it was counted
    before online voting (no record), newest year first, by community code."""
    rows = session.execute(
        select(Cycle, func.coalesce(BallotChain.last_seq, 0), counted_offline_clause(Cycle.id))
        .join(Community, Community.id == Cycle.community_id)
        .outerjoin(BallotChain, BallotChain.cycle_id == Cycle.id)
        .order_by(Cycle.year.desc(), Community.code)
    )
    return [(cycle, seq, bool(offline)) for cycle, seq, offline in rows]

"""The hash chain of a cycle's recorded ballots. Standard library only: a standalone verifier may
copy this file as it is.

Every recorded ballot version (online, assisted or paper; first vote or revision) extends the chain
of its cycle, in the order of `seq` (1, 2, 3, … with no gap):

    chain_hash[0]   = sha256_hex("voting:cycle:<cycle id>")                    (the genesis)
    chain_hash[seq] = sha256_hex(chain_hash[seq - 1] + "\\n" + canonical_row(seq))

where sha256_hex is the lowercase hexadecimal SHA-256 of the UTF-8 text, and canonical_row is one
line of text, seven fields joined by "|":

    v2|seq|voter_code|version|choices|cast_at|receipt

    v2          the format of this row (v1 also had the channel and the worker, which the voter
                roll holds: a record and a roll that shared them could be joined)
    seq         the ballot's position in its cycle's chain, decimal
    voter_code  the pseudonymous voter code (lowercase hexadecimal)
    version     1 for a voter's first ballot, 2 for the first revision, …
    choices     "project id:points" for every chosen project, ascending by project id, joined
                by ","; points are 1 except in cumulative voting; empty for an empty ballot
    cast_at     when the ballot was recorded, UTC, ISO 8601 with microseconds and a Z:
                2026-11-28T08:30:05.000123Z
    receipt     the receipt code as given to the voter, e.g. 7KQ2-M9XD-4T1B

A later version supersedes an earlier one without changing its row: being superseded is state,
not part of the record (the current ballot of a voter is the one with the highest version).
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

FORMAT = "v2"


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def genesis_hash(cycle_id: int) -> str:
    """The hash the chain of a cycle starts from (before its first ballot)."""
    return sha256_hex(f"voting:cycle:{cycle_id}")


def format_cast_at(cast_at: datetime) -> str:
    """A naive UTC time as ISO 8601 with microseconds and Z (always six digits)."""
    if cast_at.tzinfo is not None:
        raise ValueError("cast_at must be a naive UTC datetime")
    return cast_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_choices(choices: Iterable[tuple[int, int]]) -> str:
    """(project id, points) pairs as "id:points,…" ascending by project id."""
    return ",".join(f"{int(project_id)}:{int(points)}" for project_id, points in sorted(choices))


def canonical_row(*, seq: int, voter_code: str, version: int, choices: Iterable[tuple[int, int]],
                  cast_at: datetime, receipt: str) -> str:
    """The text of one recorded ballot that the chain hashes (see the module docstring)."""
    fields = (FORMAT, str(int(seq)), voter_code, str(int(version)), format_choices(choices),
              format_cast_at(cast_at), receipt)
    return "|".join(fields)


def next_hash(previous_hash: str, row: str) -> str:
    """The chain's hash after `row`, given the hash before it."""
    return sha256_hex(previous_hash + "\n" + row)


def first_broken_link(cycle_id: int, rows: Iterable[tuple[str, str]]) -> int | None:
    """Recompute a chain from (canonical row, stored chain hash) pairs in seq order.

    Returns the 0-based index of the first pair whose stored hash does not follow, or None when
    every link holds. (Sequence numbers themselves are checked by the caller or inside the rows.)
    """
    previous = genesis_hash(cycle_id)
    for index, (row, stored) in enumerate(rows):
        previous = next_hash(previous, row)
        if previous != stored:
            return index
    return None

"""The action log's hash chain, standard library only (the standalone verifier copies it).

    hash(n) = sha256( hash(n-1) + "\\n" + canonical(n) ), hash(0) = sha256("voting:action-log")

canonical(n) = seq | at (ISO 8601, UTC, microseconds) | actor | role | action | community | detail,
joined by "|", with detail as JSON with sorted keys and no spaces.
"""
from __future__ import annotations

import hashlib
import json

GENESIS = hashlib.sha256(b"voting:action-log").hexdigest()
FIELDS = ("seq", "at", "actor", "role", "action", "community", "detail")


def canonical(row: dict) -> str:
    return "|".join(str(row[name]) for name in FIELDS)


def link(previous: str, row: dict) -> str:
    return hashlib.sha256((previous + "\n" + canonical(row)).encode("utf-8")).hexdigest()


def detail_json(detail: dict) -> str:
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def first_bad_row(rows: list[dict]) -> int | None:
    """The 1-based index of the first row whose seq or hash does not follow; None when intact."""
    previous = GENESIS
    for index, row in enumerate(rows, start=1):
        if int(row["seq"]) != index or link(previous, row) != row["chain_hash"]:
            return index
        previous = row["chain_hash"]
    return None

"""Cells a spreadsheet will not run: the one guard every CSV and XLSX download uses.

A spreadsheet opening a file takes a cell that begins with = + - @ (or with a tab or a carriage
return, which some skip first) for a formula, and a formula can fetch URLs or start programs (OWASP,
"CSV Injection"). Such a text cell is written with a leading apostrophe, which spreadsheets read as
"this is text". A cell that already begins with an apostrophe gets one too, so that removing one
leading apostrophe (`plain`) always gives back the stored text: the ballot record's verifier does
exactly that (`audit/verify_record.py` keeps its own copy: it uses the standard library only).
"""
from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def guard(value):
    """The cell as written: text that a spreadsheet would run gets a leading apostrophe; numbers,
    dates and None stay as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def plain(text: str) -> str:
    """The stored text of a guarded cell (undo `guard`)."""
    return text.removeprefix("'")

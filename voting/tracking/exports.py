"""Downloads of the filtered archive: CSV (UTF-8 with a BOM, so Excel reads Chinese) and XLSX.

Text cells that a spreadsheet would take for a formula (starting with = + - @, a tab or a carriage
return) get a leading apostrophe (`voting.spreadsheet.guard`).
"""
from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator
from decimal import Decimal

from flask_babel import gettext as _
from openpyxl import Workbook

from ..format import CATEGORY_LABELS, STATUS_LABELS
from ..money import yuan
from ..spreadsheet import guard
from .archive import ArchiveRow
from .progress import local_date


def headers() -> list[str]:
    return [_("Project id"), _("Title"), _("Sub-district"), _("Community code"), _("Community"), _("Year"),
            _("Category"), _("Status"), _("Cost (yuan)"), _("Votes"), _("Spent (yuan)"), _("Completed on"),
            _("Accepted on"), _("Average rating"), _("Ratings")]


def _cells(row: ArchiveRow) -> list:
    p = row.project
    return [
        p.id, p.title, row.sub_district.name, row.community.code, row.community.name, row.year,
        str(CATEGORY_LABELS.get(p.category, p.category)), str(STATUS_LABELS.get(p.status, p.status)),
        Decimal(yuan(p.cost_fen or 0)), p.votes, Decimal(yuan(row.spent_fen)),
        local_date(p.completed_at).isoformat() if p.completed_at else "",
        row.accepted_on.isoformat() if row.accepted_on else "",
        row.rating_average if row.rating_average is not None else "", row.rating_count,
    ]


def csv_chunks(rows: Iterable[ArchiveRow]) -> Iterator[str]:
    """The CSV, a few rows at a time, starting with the byte-order mark."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff"
    writer.writerow([guard(h) for h in headers()])
    for n, row in enumerate(rows, start=1):
        writer.writerow([guard(c) if not isinstance(c, Decimal) else f"{c:.2f}" for c in _cells(row)])
        if n % 200 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def xlsx_file(rows: Iterable[ArchiveRow], title: str) -> tempfile.SpooledTemporaryFile:
    """The workbook, written row by row (openpyxl write-only mode), in a spooled temporary file."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title[:31])
    sheet.append([guard(h) for h in headers()])
    for row in rows:
        sheet.append([guard(c) for c in _cells(row)])
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    workbook.save(out)
    out.seek(0)
    return out

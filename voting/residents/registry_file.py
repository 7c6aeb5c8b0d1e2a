"""Reading a resident registry file (CSV or XLSX) into plain rows, with row numbers.

Columns: name, id_number, phone, grid, address (English or the Chinese headings staff use:
姓名, 身份证号, 电话, 网格, 地址). CSV may be UTF-8 (with or without BOM) or GB18030, as Excel
in China saves it.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from flask_babel import gettext as _
from openpyxl import load_workbook

COLUMNS = ("name", "id_number", "phone", "grid", "address")
HEADINGS = {
    "name": "name", "姓名": "name",
    "id_number": "id_number", "身份证号": "id_number", "身份证号码": "id_number",
    "phone": "phone", "电话": "phone", "手机": "phone", "联系电话": "phone",
    "grid": "grid", "网格": "grid", "网格编号": "grid",
    "address": "address", "地址": "address", "住址": "address",
}
MAX_ROWS = 50_000


class RegistryFileError(ValueError):
    """The file cannot be read as a registry (format, encoding or columns)."""


@dataclass(frozen=True)
class Row:
    number: int  # the row number as a spreadsheet shows it (the heading is row 1)
    values: dict[str, str]


def read_registry(data: bytes, filename: str) -> list[Row]:
    """:raises RegistryFileError: unknown format, undecodable text, or missing/unknown columns."""
    lower = filename.lower()
    if lower.endswith(".xlsx"):
        table = _xlsx_rows(data)
    elif lower.endswith(".csv"):
        table = list(csv.reader(io.StringIO(_decode(data))))
    else:
        raise RegistryFileError(_("The file must be .csv or .xlsx."))
    if not table:
        raise RegistryFileError(_("The file is empty."))
    columns = _columns(table[0])
    rows = []
    for number, cells in enumerate(table[1:], start=2):
        if not any(str(c or "").strip() for c in cells):
            continue
        cells = list(cells) + [""] * (len(columns) - len(cells))
        rows.append(Row(number, {name: str(cells[i] if cells[i] is not None else "").strip()
                                 for i, name in enumerate(columns) if name}))
    if len(rows) > MAX_ROWS:
        raise RegistryFileError(_("At most %(n)d residents per file.", n=MAX_ROWS))
    return rows


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RegistryFileError(_("The CSV file is neither UTF-8 nor GB18030 text."))


def _xlsx_rows(data: bytes) -> list[list]:
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a file that is not a workbook
        raise RegistryFileError(_("The file is not a readable .xlsx workbook.")) from None
    sheet = workbook.worksheets[0]
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    workbook.close()
    return rows


def _columns(heading: list) -> list[str | None]:
    names = [HEADINGS.get(str(cell or "").strip().lower()) for cell in heading]
    unknown = [str(cell) for cell, name in zip(heading, names) if name is None and str(cell or "").strip()]
    missing = [c for c in COLUMNS if c not in names]
    if unknown or missing or len(set(filter(None, names))) != len(list(filter(None, names))):
        raise RegistryFileError(_(
            "The first row must name the columns %(columns)s (unknown: %(unknown)s; missing: %(missing)s).",
            columns=", ".join(COLUMNS), unknown=", ".join(unknown) or "-", missing=", ".join(missing) or "-",
        ))
    return names

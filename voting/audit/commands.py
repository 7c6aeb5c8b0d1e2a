"""`voting export` and `voting verify` (SPEC §5)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click
from flask.cli import with_appcontext

from ..cycles.services import get_cycle
from ..database import utcnow
from ..errors import DomainError
from ..extensions import db
from .exports import FORMATS, csv_chunks, json_chunks, write_pabulib, write_xlsx
from .records import current_ballots, record_header, record_lines, record_rows
from .verify import verify_file
from .verify_record import parse_checkpoint


@click.command("export")
@click.option("--cycle", "cycle_id", type=int, required=True, help="The cycle's id.")
@click.option("--format", "file_format", type=click.Choice(FORMATS), required=True, help="The file format.")
@click.option("--output", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Where to write the record.")
@with_appcontext
def export_command(cycle_id: int, file_format: str, output: str) -> None:
    """Export a cycle's ballot record (before the close: the record so far, marked as such)."""
    try:
        cycle = get_cycle(db.session, cycle_id)
        header = record_header(db.session, cycle, utcnow())
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    db.session.commit()  # a result computed just now is stored, as when the results page first needs it
    rows = _Counted(record_rows(db.session, header))
    lines = _CountedLines(record_lines(db.session, header, file_format)) if file_format in ("csv", "json") else None
    target = Path(output)
    try:
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".part")
    except OSError as error:
        raise click.ClickException(f"cannot write {output}: {error.strerror or error}") from None
    try:
        if file_format in ("csv", "json"):
            chunks = csv_chunks if file_format == "csv" else json_chunks
            with os.fdopen(handle, "wb") as stream:
                stream.writelines(chunks(header, lines))
            rows.count = lines.count
        elif file_format == "xlsx":
            os.close(handle)
            write_xlsx(header, rows, temporary)
        else:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
                write_pabulib(header, current_ballots(db.session, header), stream)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    what = f"{rows.count} ballot rows" if file_format != "pb" else "the current ballots"
    click.echo(f"wrote {what} of cycle {header.cycle_id} ({header.community_name} {header.year}) to {output}")
    if not header.is_final:
        click.echo("SO FAR: voting is still open; this is the record so far, not the result.", err=True)


class _Counted:
    """An iterator that counts what passed through it."""

    def __init__(self, rows):
        self.rows, self.count = iter(rows), 0

    def __iter__(self):
        return self

    def __next__(self):
        row = next(self.rows)
        self.count += 1
        return row


class _CountedLines(_Counted):
    """Batches of lines (`records.record_lines`), counting the lines."""

    def __next__(self):
        count, block = next(self.rows)
        self.count += count
        return count, block


def _checkpoints(_context, _parameter, values) -> list:
    """Each --checkpoint SEQ:HASH as a `verify_record.Checkpoint` (a malformed one: usage error, exit 2)."""
    checkpoints = []
    for value in values:
        try:
            checkpoints.append(parse_checkpoint(value))
        except ValueError as error:
            raise click.BadParameter(str(error)) from None
    return checkpoints


@click.command("verify")
@click.argument("path", type=click.Path(dir_okay=True))
@click.option("--head", help="The chain head published on the results page, to compare with.")
@click.option("--checkpoint", "checkpoints", multiple=True, metavar="SEQ:HASH", callback=_checkpoints,
              help="A chain head copied earlier (the list of receipts, a receipt check) that the record must "
                   "extend; repeat for several.")
@click.pass_context
def verify_command(context: click.Context, path: str, head: str | None, checkpoints: list) -> None:
    """Verify an exported record (.csv, .json, .xlsx: hash chain, voting window, checkpoints and
    recount; .pb: recount).

    Exit 0 when intact; 1 naming the first bad row or checkpoint otherwise; 2 when the file cannot be
    read or an option is malformed.
    """
    status, lines = verify_file(path, head, checkpoints)
    for line in lines:
        click.echo(line, err=status != 0)
    context.exit(status)

"""`voting issue-codes`: personal voting codes for a community, written to a CSV file."""
from __future__ import annotations

import csv
import os
import sys
import tempfile
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import func, select

from ..audit.services import CommandLine
from ..errors import DomainError
from ..extensions import db
from ..geography.models import Grid
from ..geography.services import get_community
from ..residents.issuing import issue_codes
from ..residents.models import Resident
from ..spreadsheet import guard

CODES_COLUMNS = ("name", "grid", "address", "voting_code")


@click.command("issue-codes")
@click.option("--community", "community_code", required=True, help="The community's code.")
@click.option("--grid", "grid_code", help="Only this grid of the community.")
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="The CSV file to write.")
@click.option("--only-new", is_flag=True, help="Only residents who have no code yet.")
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@with_appcontext
def issue_codes_command(community_code, grid_code, output, only_new, force):
    """Issue new personal voting codes and write name,grid,address,voting_code (UTF-8, for Excel).

    Only the codes' hashes are kept: this file is the only copy of the codes, and the residents'
    earlier codes stop working.
    """
    target = Path(output)
    if target.exists() and not force:
        raise click.ClickException(f"{output} exists; nothing issued (--force replaces it)")
    if not target.parent.is_dir():
        raise click.ClickException(f"cannot write {output}: there is no folder {target.parent}")
    try:
        community = get_community(db.session, community_code)
        with click.progressbar(length=_count(community, grid_code, only_new), label="issuing codes",
                               file=sys.stderr) as bar:
            slips = issue_codes(db.session, CommandLine.current(), community, grid_code, only_new, bar.update)
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    # The file first, then the commit: codes that were never written down must not replace anyone's.
    try:
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".", suffix=".part")
    except OSError as error:
        db.session.rollback()
        raise click.ClickException(f"cannot write {output}: {error.strerror or error}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8-sig", newline="") as stream:  # the BOM: Excel reads UTF-8
            writer = csv.writer(stream)
            writer.writerow(CODES_COLUMNS)
            writer.writerows([guard(slip.resident.name), guard(slip.resident.grid.code),
                              guard(slip.resident.address), slip.code] for slip in slips)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o600)  # credentials
        db.session.commit()
    except BaseException:
        db.session.rollback()
        Path(temporary).unlink(missing_ok=True)
        raise
    try:
        os.replace(temporary, target)
    except OSError as error:  # issued: the codes must not be lost
        raise click.ClickException(f"codes issued and written to {temporary}, but not renamed to {output}: "
                                   f"{error.strerror or error}") from None
    click.echo(f"issued {len(slips)} voting codes in {community.code} {community.name}"
               f"{f' grid {grid_code}' if grid_code else ''}; wrote {output}")


def _count(community, grid_code, only_new) -> int:
    """How many codes `issue_codes` will issue (for the progress bar)."""
    stmt = select(func.count(Resident.id)).where(Resident.community_id == community.id, Resident.status == "active")
    if grid_code is not None:
        stmt = stmt.join(Grid, Grid.id == Resident.grid_id).where(Grid.code == grid_code)
    if only_new:
        stmt = stmt.where(Resident.voting_code_hash.is_(None))
    return db.session.scalar(stmt)

"""The `voting` commands that need the app, added to it by `create_app` (`voting.console` runs them;
so does `flask --app voting.app …`)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade
from sqlalchemy import select

from .accounts.commands import issue_codes_command
from .accounts.services import create_user, registered_resident
from .audit.commands import export_command, verify_command
from .backup import BackupError
from .backup import backup as write_backup
from .backup import restore as read_backup
from .config import parse_photo_store, secret_keys
from .database import utcnow
from .demo import DemoError, accounts_file, load_demo
from .enums import Role
from .errors import DomainError
from .extensions import db
from .geography.services import get_community
from .proposals.models import ProjectPhoto
from .proposals.photos import CONTENT_TYPE, is_jpeg, legacy_folder
from .residents.registry_file import RegistryFileError, read_registry
from .residents.services import (RegistryRejected, apply_import, find_by_id_number, plan_import,
                                 set_resident_status)
from .storage import import_folder
from .tally.command import tally_command
from .tracking.models import MilestonePhoto


def register_commands(app) -> None:
    for command in (init_db, demo, serve, users, import_residents, residents, backup, restore, tally_command,
                    export_command, verify_command, issue_codes_command, photos):
        app.cli.add_command(command)


@click.command("init-db")
@with_appcontext
def init_db():
    """Create or upgrade the schema to the newest migration."""
    upgrade(revision="heads")
    click.echo("database schema is up to date")


@click.command("demo")
@click.option("--password", help="Password of every demo account (default: random, printed).")
@click.option("--seed", type=int, default=2026, show_default=True, help="Random seed; the same seed, the same district.")
@click.option("--residents-per-grid", type=click.IntRange(1, 500), default=4, show_default=True)
@click.option("--if-empty", is_flag=True, help="Do nothing (and show the saved accounts) when a district is loaded.")
@with_appcontext
def demo(password, seed, residents_per_grid, if_empty):
    """Load the demo district: 45 communities, 232 grids, 280 completed projects, votes open now."""
    try:
        table = load_demo(db.session, seed=seed, password=password, residents_per_grid=residents_per_grid)
    except DemoError as error:
        saved = accounts_file(current_app)
        if if_empty and saved.exists():
            click.echo(saved.read_text())
            return
        raise click.ClickException(str(error)) from None
    db.session.commit()
    accounts_file(current_app).write_text(table)
    os.chmod(accounts_file(current_app), 0o600)
    click.echo(table)


def default_workers() -> int:
    """Gunicorn workers for this machine: 2 × cores + 1, at most 9."""
    return min(2 * (os.cpu_count() or 1) + 1, 9)


def gunicorn_argv(app_spec: str, host: str, port: int, workers: int, access_log: bool = True) -> list[str]:
    """The gunicorn command line of `voting serve` (the benchmark's baselines are served the same way)."""
    argv = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"{host}:{port}",
            "--graceful-timeout", "10"]
    if access_log:
        argv += ["--access-logfile", "-"]
    return argv + [app_spec]


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=5000, show_default=True)
@click.option("--workers", type=int, default=None, help="Worker processes (default: 2 × cores + 1, at most 9).")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="One line per request on standard output (nginx keeps its own).")
def serve(host, port, workers, access_log):
    """Serve with gunicorn (the production server)."""
    workers = workers or default_workers()
    argv = gunicorn_argv("voting.app:create_app()", host, port, workers, access_log)
    click.echo(f"serving on http://{host}:{port} with {workers} workers")
    os.execvp(argv[0], argv)


@click.group("users")
def users():
    """Manage accounts."""


@users.command("add")
@click.option("--role", required=True, type=click.Choice([role.value for role in Role]))
@click.option("--username", required=True)
@click.option("--password", required=True)
@click.option("--community", "community_code")
@click.option("--grid", "grid_code")
@click.option("--id-number", help="A resident's account: the ID number of the registered resident it belongs to.")
@with_appcontext
def users_add(role, username, password, community_code, grid_code, id_number):
    """Add an account with its role and scope (a resident's: linked to the registry by --id-number)."""
    try:
        resident = registered_resident(db.session, role, id_number, community_code, secret_keys(current_app.config))
        create_user(db.session, role=role, username=username, password=password,
                    community_code=community_code or (resident.community.code if resident else None),
                    grid_code=grid_code, resident_id=resident.id if resident else None)
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    db.session.commit()
    click.echo(f"added {role} {username}")


@click.command("import-residents")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--community", "community_code", required=True, help="The community whose registry this is.")
@click.option("--dry-run", is_flag=True, help="Print what the import would do, and write nothing.")
@click.option("--mark-moved", is_flag=True,
              help="Also mark as moved away the residents of the community the file does not list.")
@with_appcontext
def import_residents(path, community_code, dry_run, mark_moved):
    """Bring a community's registry up to date with a file (CSV or XLSX), matched by ID number.

    Prints the preview (new, changed, moving in, not in the file), then applies all of it or nothing.
    The residents the file does not list stay as they are, unless --mark-moved; --dry-run only prints.
    """
    keys, now = secret_keys(current_app.config), utcnow()
    try:
        community = get_community(db.session, community_code)
        plan = plan_import(db.session, community, read_registry(Path(path).read_bytes(), path), keys, now)
    except (DomainError, RegistryFileError) as error:
        db.session.rollback()
        raise click.ClickException(getattr(error, "message", str(error))) from None
    except RegistryRejected as rejected:
        db.session.rollback()
        for row, problem in rejected.problems:
            click.echo(f"row {row}: {problem}", err=True)
        raise click.ClickException(f"nothing imported: {len(rejected.problems)} problem(s) in {path}") from None
    for line in _preview_lines(plan):
        click.echo(line)
    if dry_run:
        db.session.rollback()
        click.echo("dry run: nothing written")
        return
    if plan.moved_away and not mark_moved:
        click.echo(f"{len(plan.moved_away)} resident(s) not in the file stay as they are "
                   "(--mark-moved marks them moved away)")
        plan.moved_away = []
    if not plan.has_changes:
        db.session.rollback()
        click.echo(f"nothing to change in {community.code} {community.name}")
        return
    counts = apply_import(db.session, None, plan, keys, now, file=Path(path).name)
    db.session.commit()
    click.echo(f"imported {counts['new']} new, {counts['changed']} changed, {counts['moving_in']} moved in, "
               f"{counts['moved_away']} marked moved away in {community.code} {community.name}")


def _preview_lines(plan) -> list[str]:
    """The preview of an import for the terminal: never an ID number."""
    counts = plan.counts
    lines = [f"{plan.community.code} {plan.community.name}: {counts['new']} new, {counts['changed']} changed, "
             f"{counts['moving_in']} moving in, {counts['moved_away']} not in the file, {counts['unchanged']} unchanged"]
    lines += [f"  new        row {n.row}: {n.name}, {n.grid}, {n.address}" for n in plan.new]
    for change in plan.changed:
        what = "; ".join(f"{f} {old or '-'} -> {new or '-'}" for f, (old, new) in change.fields.items())
        kind = {"changed": "changed   ", "returning": "returning ", "moving_in": "moving in "}[change.kind]
        source = f" (from {change.from_community})" if change.from_community else ""
        lines.append(f"  {kind} row {change.row}: {change.resident.name}{source}{': ' + what if what else ''}")
    lines += [f"  not in the file {r.name}, {r.grid.code}, {r.address}" for r in plan.moved_away]
    return lines


@click.group("residents")
def residents():
    """The resident registry."""


@residents.command("set-status")
@click.option("--community", "community_code", required=True)
@click.option("--id-number", required=True, help="The resident's 18-character ID number.")
@click.option("--status", required=True, type=click.Choice(["moved", "deceased", "active"]))
@with_appcontext
def residents_set_status(community_code, id_number, status):
    """Mark a resident as moved away or deceased, or active again (logged)."""
    try:
        community = get_community(db.session, community_code)
        resident = find_by_id_number(db.session, community, id_number, secret_keys(current_app.config))
        set_resident_status(db.session, None, community, resident.id, status, utcnow())
    except DomainError as error:
        db.session.rollback()
        raise click.ClickException(error.message) from None
    db.session.commit()
    click.echo(f"{resident.name} ({community.code}) is now {status}")


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@with_appcontext
def backup(path):
    """Write a consistent backup of the database (safe while serving)."""
    try:
        write_backup(current_app.config["SQLALCHEMY_DATABASE_URI"], Path(path))
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"backup written to {path}")
    if parse_photo_store(current_app.config.get("PHOTO_STORE")):
        click.echo(f"photos stored in {current_app.config['PHOTO_STORE']} are not in this file: back up the bucket "
                   "too (docs/deploy.md, Backups)")


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.confirmation_option(prompt="This replaces everything in the database. Continue?")
@with_appcontext
def restore(path):
    """Replace the database with a backup (stop the service first)."""
    db.engine.dispose()
    try:
        read_backup(current_app.config["SQLALCHEMY_DATABASE_URI"], Path(path))
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"restored from {path}")



@click.group("photos")
def photos():
    """Uploaded photos."""


@photos.command("import")
@click.option("--folder", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where an earlier release kept photos (default: UPLOAD_FOLDER or instance/uploads).")
@with_appcontext
def photos_import(folder):
    """Store the photos an earlier release kept in this host's folder (run on every host; safe to repeat)."""
    folder = folder or legacy_folder()
    wanted = set(db.session.scalars(select(ProjectPhoto.filename))) | set(db.session.scalars(
        select(MilestonePhoto.filename)))
    report = import_folder(db.session, folder, wanted, CONTENT_TYPE, is_valid=is_jpeg)
    click.echo(f"{len(report.imported)} photos imported from {folder}, {report.already_stored} already stored")
    if report.missing:
        click.echo(f"{len(report.missing)} photos are neither stored nor in this folder (run this on the host "
                   f"that kept them): {', '.join(report.missing[:10])}{' …' if len(report.missing) > 10 else ''}")

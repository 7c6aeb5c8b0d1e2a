"""The benchmark's databases: a fresh SQLite file or PostgreSQL database, migrated, with the demo
district and many more residents (each with an account and an API token), inserted in bulk.

Residents are spread over every grid of the demo; their accounts share one password hash and their
tokens are written straight into `api_token` (the hash of a random token), so thousands of voters
are ready in seconds without thousands of scrypt sign-ins.
"""
from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import make_url

SECRET_KEY = "bench-secret-key-not-for-production"
PASSWORD = "Bench-Pass-1"
DEFAULT_PG_URL = "postgresql+psycopg://voting:voting@127.0.0.1/voting_bench"


@dataclass(frozen=True)
class Voter:
    token: str
    cycle_id: int
    projects: tuple[int, ...]


def server_env(url: str) -> dict[str, str]:
    """The environment of every server the benchmark starts (the app and the baselines alike)."""
    return os.environ | {"VOTING_DATABASE_URL": url, "VOTING_SECRET_KEY": SECRET_KEY,
                         "VOTING_RATELIMIT_ENABLED": "false"}


def fresh_database(kind: str, workdir, pg_url: str) -> str | None:
    """An empty database of `kind` (sqlite or postgresql); None when PostgreSQL cannot be reached."""
    if kind == "sqlite":
        path = workdir / "bench.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        return f"sqlite:///{path}"
    url = make_url(pg_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{url.database}"'))
    except Exception as error:  # noqa: BLE001  (no server, no permission: the run goes on without it)
        print(f"PostgreSQL at {url.render_as_string(hide_password=True)} unavailable: {error.__class__.__name__}")
        return None
    finally:
        admin.dispose()
    return pg_url


def bench_app(url: str):
    """The app on `url` (the benchmark's secret key), for building data in-process."""
    os.environ["VOTING_SECRET_KEY"] = SECRET_KEY
    from voting.app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": url})


def migrate_and_load_demo(app) -> None:
    """The schema by the migrations, and the demo district (one resident account per grid)."""
    from flask_migrate import upgrade

    from voting.demo import load_demo
    from voting.extensions import db

    with app.app_context():
        upgrade(revision="heads")
        load_demo(db.session, seed=2026, password=PASSWORD, residents_per_grid=1)
        db.session.commit()


def add_voters(app, count: int) -> list[Voter]:
    """`count` more residents spread over every grid, each with an account and a token for the
    API; returns the voters with their open cycle and its ballot."""
    from voting.accounts.models import ApiToken, User
    from voting.cycles.models import Cycle
    from voting.database import utcnow
    from voting.extensions import db
    from voting.geography.models import Grid
    from voting.proposals.models import Project
    from voting.residents.models import Resident

    with app.app_context():
        session = db.session
        grids = session.execute(select(Grid.id, Grid.community_id).order_by(Grid.id)).all()
        password_hash = session.scalar(select(User.password_hash).where(User.username == "admin"))
        open_cycles = {c.community_id: c for c in session.scalars(select(Cycle).where(Cycle.phase == "voting"))}
        ballots = {}
        for cycle_id, project_id in session.execute(
                select(Project.cycle_id, Project.id).where(Project.status == "on_ballot").order_by(Project.id)):
            ballots.setdefault(cycle_id, []).append(project_id)
        people = [grids[i % len(grids)] for i in range(count)]
        resident_ids = session.scalars(insert(Resident).returning(Resident.id, sort_by_parameter_order=True), [
            {"community_id": community_id, "grid_id": grid_id, "name": f"居民{i}",
             "id_hash": hashlib.sha256(f"bench-resident-{i}".encode()).hexdigest(), "address": f"{i}号",
             "household": hashlib.sha256(f"bench-household-{i}".encode()).hexdigest()[:32], "status": "active"} for i, (grid_id, community_id) in enumerate(people)]).all()
        user_ids = session.scalars(insert(User).returning(User.id, sort_by_parameter_order=True), [
            {"username": f"bench-{i}", "password_hash": password_hash, "role": "resident",
             "community_id": community_id, "resident_id": resident_id, "is_enabled": True, "session_version": 1}
            for i, ((_grid, community_id), resident_id) in enumerate(zip(people, resident_ids))]).all()
        tokens = [secrets.token_urlsafe(32) for _ in user_ids]
        expires = utcnow() + timedelta(hours=12)
        session.execute(insert(ApiToken), [
            {"user_id": user_id, "token_hash": hashlib.sha256(token.encode()).hexdigest(), "session_version": 1,
             "expires_at": expires} for user_id, token in zip(user_ids, tokens)])
        session.commit()
        voters = []
        for token, (_grid, community_id) in zip(tokens, people):
            cycle = open_cycles[community_id]
            voters.append(Voter(token, cycle.id, tuple(ballots[cycle.id])))
        return voters

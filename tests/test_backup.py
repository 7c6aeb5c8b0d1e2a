"""`voting backup` and `voting restore` on SQLite and PostgreSQL."""
from sqlalchemy import func, select

from voting.accounts.models import User
from voting.extensions import db


def users():
    return db.session.scalar(select(func.count(User.id)))


def test_backup_and_restore(world, runner, tmp_path):
    path = tmp_path / "voting.backup"
    result = runner.invoke(args=["backup", str(path)])
    assert result.exit_code == 0, result.output and path.stat().st_size > 0
    before = users()
    db.session.delete(world.admin)
    db.session.commit()
    assert users() == before - 1
    db.session.remove()
    result = runner.invoke(args=["restore", "--yes", str(path)])
    assert result.exit_code == 0, result.output
    assert users() == before
    assert db.session.scalar(select(User).where(User.username == "admin")) is not None


def test_restore_refuses_a_file_that_is_not_a_backup(world, runner, tmp_path):
    bogus = tmp_path / "bogus.backup"
    bogus.write_bytes(b"not a backup at all" * 100)
    before = users()
    db.session.remove()
    result = runner.invoke(args=["restore", "--yes", str(bogus)])
    assert result.exit_code == 1 and "Error" in result.output and "Traceback" not in result.output
    assert users() == before

"""`driver.DriverStatement` against SQLAlchemy's own execution, on the test database (SQLite, or
PostgreSQL with VOTING_TEST_DATABASE_URL): the same rows with the same types, executemany, errors
raised as SQLAlchemy's (so `@transactional` retries them), and the statements it refuses to run."""
import sqlite3
from datetime import date, datetime

import pytest
from sqlalchemy import (Boolean, Column, Date, DateTime, Integer, MetaData, Numeric, String, Table, Text, bindparam,
                        insert, literal, select, text, update)
from sqlalchemy.exc import DBAPIError, IntegrityError

from voting.database import is_retryable, reads_before_lock, transactional
from voting.driver import DriverStatement, per_dialect
from voting.extensions import db

_metadata = MetaData()
probe = Table(
    "driver_probe", _metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime),  # text on SQLite: converted both ways by the type's processors
    Column("day", Date),
    Column("n", Integer),
    Column("label", Text),
    Column("code", String(8), unique=True),
    Column("flag", Boolean),
    Column("amount", Numeric(10, 2)),
    Column("stamp", Integer, default=lambda: 7),  # a Python-side default
)
AT = datetime(2026, 3, 5, 14, 30, 15, 123456)
ROWS = [
    {"id": 1, "at": AT, "day": date(2026, 3, 5), "n": 42, "label": "社区 A", "code": "a1", "flag": True,
     "amount": None, "stamp": 1},
    {"id": 2, "at": None, "day": None, "n": None, "label": None, "code": "b2", "flag": False, "amount": None,
     "stamp": 2},
]


@pytest.fixture()
def connection(app):
    """A session connection in a transaction, with the probe table holding ROWS."""
    _metadata.create_all(db.engine)
    try:
        db.session.execute(insert(probe), ROWS)
        yield db.session.connection()
    finally:
        db.session.rollback()
        db.session.remove()
        _metadata.drop_all(db.engine)


def _typed(rows) -> list[tuple]:
    return [tuple((value, type(value)) for value in row) for row in rows]


def test_a_select_gives_the_rows_and_types_of_sqlalchemy(connection):
    stmt = (select(probe.c.id, probe.c.at, probe.c.day, probe.c.n, probe.c.label, probe.c.flag)
            .where(probe.c.id >= bindparam("lowest")).order_by(probe.c.id))
    ran = DriverStatement(stmt, connection.dialect).rows(connection, {"lowest": 1})
    assert _typed(ran) == _typed(connection.execute(stmt, {"lowest": 1}).all())
    assert ran[0].at == AT and ran[0].label == "社区 A" and ran[0].flag is True and ran[1].n is None


def test_a_bound_datetime_is_converted_as_sqlalchemy_would(connection):
    stmt = select(probe.c.id).where(probe.c.at == bindparam("at", type_=DateTime))
    assert DriverStatement(stmt, connection.dialect).rows(connection, {"at": AT}) == [(1,)]


def test_values_fixed_in_the_statement_are_bound_each_run(connection):
    stmt = select(probe.c.label).where(probe.c.n == 42, probe.c.code == literal("a1"))
    statement = DriverStatement(stmt, connection.dialect)
    assert statement.rows(connection, {}) == statement.rows(connection, {}) == [("社区 A",)]


def test_text_with_named_columns_is_typed(connection):
    stmt = text("SELECT id, at FROM driver_probe WHERE id = :id").columns(probe.c.id, probe.c.at)
    (row,) = DriverStatement(stmt, connection.dialect).rows(connection, {"id": 1})
    assert (row.id, row.at) == (1, AT) and _typed([row]) == _typed(connection.execute(stmt, {"id": 1}).all())


def test_a_write_returning_and_executemany(connection):
    add = DriverStatement(insert(probe).values(id=bindparam("id"), at=bindparam("at"), code=bindparam("code"),
                                               stamp=bindparam("stamp")).returning(probe.c.id, probe.c.at),
                          connection.dialect)
    assert add.rows(connection, {"id": 3, "at": AT, "code": "c3", "stamp": 0}) == [(3, AT)]
    many = DriverStatement(insert(probe).values(id=bindparam("id"), code=bindparam("code"), stamp=0),
                           connection.dialect)
    many.run_many(connection, [{"id": 10 + n, "code": f"m{n}"} for n in range(5)])
    assert connection.execute(select(probe.c.code).where(probe.c.id >= 10).order_by(probe.c.id)).scalars().all() \
        == [f"m{n}" for n in range(5)]
    DriverStatement(update(probe).where(probe.c.id == bindparam("key")).values(at=bindparam("at")),
                    connection.dialect).rows(connection, {"key": 2, "at": AT})
    assert connection.execute(select(probe.c.at).where(probe.c.id == 2)).scalar_one() == AT


def test_errors_are_sqlalchemys(connection):
    add = DriverStatement(insert(probe).values(id=bindparam("id"), code=bindparam("code"), stamp=0),
                          connection.dialect)
    with pytest.raises(IntegrityError) as clash:
        add.rows(connection, {"id": 1, "code": "again"})
    assert isinstance(clash.value.orig, connection.dialect.loaded_dbapi.Error)
    assert clash.value.statement == add.sql and not is_retryable(clash.value)


def test_transactional_retries_a_conflict_met_on_the_driver(app):
    """A write that meets another transaction's (SQLite: another program's write lock, met with no
    busy wait; PostgreSQL: a row changed since this repeatable-read snapshot) fails as SQLAlchemy's
    retryable error, and `@transactional` runs the view again."""
    _metadata.create_all(db.engine)
    with db.engine.begin() as setup:
        setup.execute(insert(probe), ROWS)
    sqlite = db.engine.dialect.name == "sqlite"
    # On SQLite the other writer is another program (no share in the app's writers' file lock, which
    # would queue it instead); it holds SQLite's write lock until it ends.
    other = (sqlite3.connect(db.engine.url.database, isolation_level=None) if sqlite
             else db.engine.connect())
    errors = []
    change = update(probe).where(probe.c.id == bindparam("key")).values(n=bindparam("n"))

    def view():
        connection = db.session.connection()
        connection.exec_driver_sql("PRAGMA busy_timeout=0" if sqlite
                                   else "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        statement = DriverStatement(change, connection.dialect)
        if errors:  # the second attempt: nothing in the way
            return statement.rows(connection, {"key": 1, "n": 2})
        if sqlite:
            other.execute("BEGIN IMMEDIATE")
            other.execute("UPDATE driver_probe SET n = 1 WHERE id = 1")
        else:
            connection.execute(select(probe.c.n).where(probe.c.id == 1)).all()  # the snapshot
            other.execute(change, {"key": 1, "n": 1})
            other.commit()
        try:
            statement.rows(connection, {"key": 1, "n": 2})
        except DBAPIError as error:
            errors.append(error)
            raise
        finally:
            other.rollback()
        raise AssertionError("the conflict did not happen")

    try:
        # reads before the lock: the busy timeout is set before this transaction takes the lock
        reads_before_lock(transactional(view))()
        assert len(errors) == 1 and is_retryable(errors[0])
        assert db.session.execute(select(probe.c.n).where(probe.c.id == 1)).scalar_one() == 2
    finally:
        other.close()
        if sqlite:
            db.session.connection().exec_driver_sql("PRAGMA busy_timeout=30000")
        db.session.rollback()
        db.session.remove()
        _metadata.drop_all(db.engine)


def test_per_dialect_builds_once(connection):
    built = []

    @per_dialect
    def statements(dialect):
        built.append(dialect.name)
        return DriverStatement(select(probe.c.id).where(probe.c.id == bindparam("id")), dialect)

    assert statements(connection) is statements(connection) and built == [connection.dialect.name]
    assert statements(connection).rows(connection, {"id": 2}) == [(2,)]


@pytest.mark.parametrize("statement, reason", [
    (select(probe.c.id).where(probe.c.id.in_([1, 3])), "expanding parameters"),
    (select(probe.c.id).where(probe.c.id.in_(bindparam("ids", expanding=True))), "expanding parameters"),
    (select(probe.c.id).where(probe.c.id == bindparam("id", literal_execute=True)), "literal_execute"),
    (insert(probe).values(id=bindparam("id")), "Python-side defaults of ['stamp']"),
    (select(probe.c.id).where(probe.c.id == bindparam("an id%")), "escaped parameter names"),
    (select(probe.c.id).where(probe.c.id == bindparam("id", callable_=lambda: 1)), "whose value is a callable"),
    (text("SELECT id FROM driver_probe"), "result columns named and typed"),
    (text("  with x as (select 1) select * from x"), "result columns named and typed"),
    (text("UPDATE driver_probe SET n = 1\nRETURNING id"), "result columns named and typed"),
    (select(probe.c.id, probe.c.n.label("id")), "cannot name the result columns"),
    (select(probe.c.n + 1), "cannot name the result columns"),
], ids=["in_list", "expanding", "literal_execute", "python_default", "escaped_name", "callable", "text_select",
        "text_with", "text_returning", "duplicate_column", "unnamed_column"])
def test_what_it_cannot_run_is_refused_when_built(connection, statement, reason):
    with pytest.raises(TypeError, match="DriverStatement") as refused:
        DriverStatement(statement, connection.dialect)
    assert reason in str(refused.value)


def test_what_it_can_run_without_columns_is_accepted(connection):
    DriverStatement(text("UPDATE driver_probe SET n = :n WHERE id = :id"), connection.dialect).rows(
        connection, {"n": 5, "id": 2})
    assert connection.execute(select(probe.c.n).where(probe.c.id == 2)).scalar_one() == 5


def test_executemany_of_a_statement_that_returns_rows_is_refused(connection):
    statement = DriverStatement(insert(probe).values(id=bindparam("id"), code=bindparam("code"), stamp=0)
                                .returning(probe.c.id), connection.dialect)
    with pytest.raises(TypeError, match="returns rows"):
        statement.run_many(connection, [{"id": 20, "code": "x"}])


def test_a_result_type_that_needs_the_drivers_description_is_refused_or_converted(connection):
    stmt = select(probe.c.amount).where(probe.c.id == 1)
    try:
        statement = DriverStatement(stmt, connection.dialect)
    except TypeError as refused:  # PostgreSQL's NUMERIC: its processor depends on the column's type code
        assert "without the driver's description" in str(refused)
        return
    assert statement.rows(connection, {}) == connection.execute(stmt).all()

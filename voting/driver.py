"""Statements of the hot path run on the driver's own cursor (`DriverStatement`), compiled once per
dialect (`per_dialect`).

SQLAlchemy's execution of a compiled statement does, each time, what a statement may need: it
evaluates Python-side column defaults, expands `IN` lists and renders `literal_execute` values into
the SQL, translates schema names, orders positional parameters and maps escaped parameter names,
converts each value with its type's processor, and builds the result's metadata. `DriverStatement`
keeps only the conversion by type (with the types' own processors) and the errors SQLAlchemy would
raise; a statement that needs anything more is refused when it is built, with a `TypeError` that
says what it needs, instead of failing (or silently binding the wrong values) when it runs.

What it relies on of SQLAlchemy beyond its public execution API (checked against the version range
pinned in pyproject.toml, and by tests/test_driver_statement.py on SQLite and PostgreSQL):

- `statement.compile(dialect=…)` and, of the compiled statement, `string`, `bind_names`
  ({BindParameter: its name in the SQL}), `positional`, `escaped_bind_names`,
  `post_compile_params`, `literal_execute_params`, `insert_prefetch`, `update_prefetch`,
  `schema_translate_map` and `has_out_parameters` (all documented attributes of `SQLCompiler`);
- a copy of the SQLite dialect with `paramstyle = "named"` and `positional = False`, so that both
  drivers take a dict of parameters;
- `dialect.loaded_dbapi` and `DBAPIError.instance(…)` to raise the driver's errors as SQLAlchemy's.
"""
from __future__ import annotations

import copy
import functools
import re
from collections import namedtuple

from sqlalchemy import TextClause
from sqlalchemy.exc import DBAPIError

from .database import lock_at_first_write

# A plain text() that returns rows (its result columns have no names or types without `.columns()`).
_RETURNS_ROWS = re.compile(r"\s*(SELECT|WITH|VALUES|PRAGMA|SHOW|EXPLAIN|TABLE)\b|.*\bRETURNING\b",
                           re.IGNORECASE | re.DOTALL)


class DriverStatement:
    """A statement of the casting path, run on the driver's own cursor.

    SQLAlchemy compiles it once per dialect; each run then skips SQLAlchemy's per-execution work
    (execution context, result metadata, a look at every value: about 35 µs a statement on SQLite
    and more on PostgreSQL, a sixth of a cast). Only the values whose column type needs it are
    converted, by that type's own processors (SQLite keeps datetimes as text). What SQLAlchemy's
    execution would add is kept: SQLite's write lock at the first write (`lock_at_first_write`),
    and errors raised as SQLAlchemy's, so `@transactional` retries them alike.

    :raises TypeError: when built from a statement it cannot run as SQLAlchemy would (see the
        module's docstring): expanding (`in_([…])`) or `literal_execute` parameters, Python-side
        column defaults, escaped parameter names, a schema translation, OUT parameters, a
        positional paramstyle other than SQLite's, a parameter whose value is a callable, rows
        returned by a `text()` without `.columns()`, result columns without a name of their own or
        whose type cannot convert them without the driver's description.
    """

    def __init__(self, statement, dialect):
        if dialect.name == "sqlite":  # named parameters, so that both drivers take a dict
            dialect = copy.copy(dialect)
            dialect.paramstyle, dialect.positional = "named", False
        compiled = statement.compile(dialect=dialect)
        _refuse_what_needs_execution(compiled, statement)
        self.dialect, self.sql = dialect, compiled.string
        binds = compiled.bind_names  # {BindParameter: its name in the SQL}
        self.fixed = {name: bind.value for bind, name in binds.items() if not bind.required}
        self.binds = {name: process for bind, name in binds.items()
                      if (process := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None}
        columns = list(getattr(statement, "exported_columns", ()))
        self.results = [_result_processor(column, dialect) for column in columns]
        try:
            self.row = namedtuple("Row", [column.key for column in columns]) if columns else tuple
        except ValueError as error:
            raise TypeError(f"DriverStatement cannot name the result columns {[c.key for c in columns]} "
                            f"({error}): label each with a distinct name") from None
        self.returns_rows = bool(columns)  # a statement that returns rows names its columns (`text().columns()`)

    def rows(self, connection, params: dict) -> list:
        """Run it with `params` on the SQLAlchemy `connection`'s driver connection; the rows."""
        return self._run(connection, self._bind(params), many=False)

    def run_many(self, connection, many: list[dict]) -> None:
        """Run it once for each dict of parameters (executemany).

        :raises TypeError: for a statement that returns rows (executemany drops them).
        """
        if self.returns_rows:
            raise TypeError("DriverStatement.run_many runs no statement that returns rows: use rows() for each")
        self._run(connection, [self._bind(params) for params in many], many=True)

    def _bind(self, params: dict) -> dict:
        params = self.fixed | params if self.fixed else params
        if not self.binds:
            return params
        return {name: self.binds[name](value) if name in self.binds else value for name, value in params.items()}

    def _run(self, connection, params, many: bool) -> list:
        cursor = connection.connection.cursor()
        try:
            lock_at_first_write(connection.info, cursor, self.sql)
            if many:
                cursor.executemany(self.sql, params)
                return []
            cursor.execute(self.sql, params)
            fetched = cursor.fetchall() if self.returns_rows else []  # psycopg's description costs a cast 0.1 ms
        except self.dialect.loaded_dbapi.Error as error:
            raise DBAPIError.instance(self.sql, params, error, self.dialect.loaded_dbapi.Error,
                                      dialect=self.dialect) from error
        finally:
            cursor.close()
        processors = self.results
        if not any(processors):
            return [self.row(*row) for row in fetched] if self.row is not tuple else fetched
        return [self.row(*(process(value) if process else value for process, value in zip(processors, row)))
                for row in fetched]


def _refuse_what_needs_execution(compiled, statement) -> None:
    """:raises TypeError: when running the compiled statement needs SQLAlchemy's execution."""
    needs = []
    if compiled.post_compile_params:
        needs.append("expanding parameters (`in_([…])`, rendered for each run's list)")
    if compiled.literal_execute_params:
        needs.append("literal_execute parameters (rendered into the SQL at each run)")
    if compiled.insert_prefetch or compiled.update_prefetch:
        columns = [column.name for column in (*compiled.insert_prefetch, *compiled.update_prefetch)]
        needs.append(f"Python-side defaults of {columns} (set every value in the statement)")
    if compiled.escaped_bind_names:
        needs.append(f"escaped parameter names {sorted(compiled.escaped_bind_names)} (use plain names)")
    if compiled.positional:
        needs.append(f"positional parameters (paramstyle {compiled.dialect.paramstyle!r})")
    if compiled.schema_translate_map:
        needs.append("a schema translation")
    if compiled.has_out_parameters:
        needs.append("OUT parameters")
    if callables := [name for bind, name in compiled.bind_names.items() if bind.callable is not None]:
        needs.append(f"parameters {callables} whose value is a callable (evaluated at each run)")
    if isinstance(statement, TextClause) and _RETURNS_ROWS.match(compiled.string):
        needs.append("result columns named and typed (text(…).columns(…))")
    if needs:
        raise TypeError("DriverStatement cannot run this statement on the driver's cursor, it needs "
                        + "; ".join(needs) + f": {' '.join(compiled.string.split())[:120]}")


def _result_processor(column, dialect):
    """The column type's result processor, which must not need the driver's description of the column.

    :raises TypeError: when it does (e.g. PostgreSQL's NUMERIC)."""
    try:
        return column.type.dialect_impl(dialect).result_processor(dialect, None)
    except Exception as error:  # noqa: BLE001 (any type's own refusal)
        raise TypeError(f"DriverStatement cannot convert result column {column.key!r} of type {column.type!r} "
                        f"without the driver's description ({error})") from None


def per_dialect(build):
    """Decorate `build(dialect)`, which makes a hot path's `DriverStatement`s: the decorated function
    takes a SQLAlchemy connection and builds them once for its dialect."""
    built = {}

    @functools.wraps(build)
    def statements(connection):
        dialect = connection.dialect
        if (found := built.get(dialect.name)) is None:
            found = built[dialect.name] = build(dialect)
        return found

    return statements

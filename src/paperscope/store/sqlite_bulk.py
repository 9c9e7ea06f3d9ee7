"""Bulk INSERTs on SQLite without SQLAlchemy's per-row parameter handling, storing the same text."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from json.encoder import encode_basestring_ascii
from typing import Any

import sqlalchemy as sa


def _json_str_list(value: Any) -> Any:
    """json.dumps(value) with its default settings, for the common case of a list of strings."""
    if type(value) is list and all(type(v) is str for v in value):
        return "[" + ", ".join(map(encode_basestring_ascii, value)) + "]"
    return _NOT_FAST


_NOT_FAST = object()


def _sqlite_converters(conn: sa.Connection, table: sa.Table, names: list[str]) -> list[tuple[int, Any]]:
    """(position, function) for every column whose value SQLAlchemy would convert on SQLite.

    The functions give exactly the text SQLAlchemy's own bind processors would (tests/test_store.py
    compares the stored text), just faster: JSON lists of strings as json.dumps writes them, dates
    as ISO strings, and the same datetime object converted only once.
    """
    dialect = conn.dialect
    out: list[tuple[int, Any]] = []
    for i, name in enumerate(names):
        col_type = table.c[name].type
        proc = col_type.dialect_impl(dialect).bind_processor(dialect)
        if proc is None:
            continue
        if isinstance(col_type, sa.JSON) and dialect._json_serializer in (None, json.dumps):
            out.append((i, _as_json(proc)))
        elif isinstance(col_type, sa.DateTime):
            out.append((i, _once_per_object(proc)))
        elif isinstance(col_type, sa.Date):
            out.append((i, _as_date(proc)))
        else:
            out.append((i, proc))
    return out


def _as_json(proc: Any) -> Any:
    def convert(value: Any) -> Any:
        fast = _json_str_list(value)
        return proc(value) if fast is _NOT_FAST else fast
    return convert


def _as_date(proc: Any) -> Any:
    def convert(value: Any) -> Any:
        # SQLAlchemy writes dates as %04d-%02d-%02d, which is what isoformat() gives.
        return value.isoformat() if type(value) is date else proc(value)
    return convert


def _once_per_object(proc: Any) -> Any:
    last: list[Any] = [_NOT_FAST, None]

    def convert(value: Any) -> Any:
        # Every new row of a batch carries the same `now` object: convert it once.
        if value is not last[0]:
            last[0], last[1] = value, proc(value)
        return last[1]
    return convert


def sqlite_insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Multi-row INSERTs with positional values, as few statements as SQLite's parameter limit allows.

    Values are converted as SQLAlchemy would (see _sqlite_converters) without SQLAlchemy's per-row
    parameter handling (about a third of a first load's CPU). Few statements matter because FTS5
    writes its pending index data out at every statement that fires its trigger: one row per
    statement measured 3x the full-text cost of a whole batch in one statement.
    """
    names = list(rows[0])
    converters = _sqlite_converters(conn, table, names)
    values: list[Any] = []
    for row in rows:
        vals = [row[n] for n in names]
        for i, f in converters:
            vals[i] = f(vals[i])
        values.extend(vals)
    raw = conn.connection.driver_connection  # the sqlite3 connection, inside this transaction
    per_stmt = max(1, raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(names))  # type: ignore[union-attr]
    head = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES "
    one = "(" + ", ".join("?" * len(names)) + ")"
    width = len(names)
    for start in range(0, len(rows), per_stmt):
        n = min(per_stmt, len(rows) - start)
        conn.exec_driver_sql(head + ", ".join([one] * n),
                             tuple(values[start * width:(start + n) * width]))

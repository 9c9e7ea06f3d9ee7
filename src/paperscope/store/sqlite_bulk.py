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


def _sqlite_converters(dialect: sa.Dialect, table: sa.Table, names: list[str]) -> list[tuple[int, Any]]:
    """(position, function) for every column whose value SQLAlchemy would convert on SQLite.

    The functions give exactly the text SQLAlchemy's own bind processors would (tests/test_store.py
    compares the stored text), just faster: JSON lists of strings as json.dumps writes them, dates
    as ISO strings, and the same datetime object converted only once.
    """
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


def sqlite_values(dialect: sa.Dialect, table: sa.Table, names: list[str],
                  rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Each row's values for `names`, converted as SQLAlchemy would convert them for SQLite."""
    converters = _sqlite_converters(dialect, table, names)
    out = []
    for row in rows:
        vals = [row[n] for n in names]
        for i, f in converters:
            vals[i] = f(vals[i])
        out.append(tuple(vals))
    return out


def sqlite_insert_values(conn: sa.Connection, table: sa.Table, names: list[str],
                         values: list[tuple[Any, ...]]) -> None:
    """Multi-row INSERTs of already converted values, as few statements as SQLite's parameter limit
    allows. Few statements matter because FTS5 writes its pending index data out at every
    statement that fires its trigger: one row per statement measured 3x the full-text cost of a
    whole batch in one statement."""
    raw = conn.connection.driver_connection  # the sqlite3 connection, inside this transaction
    per_stmt = max(1, raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // len(names))  # type: ignore[union-attr]
    head = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES "
    one = "(" + ", ".join("?" * len(names)) + ")"
    for start in range(0, len(values), per_stmt):
        part = values[start:start + per_stmt]
        conn.exec_driver_sql(head + ", ".join([one] * len(part)), tuple(v for row in part for v in row))


def sqlite_insert(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """INSERT rows (dicts with the same keys) without SQLAlchemy's per-row parameter handling
    (about a third of a first load's CPU), storing exactly what SQLAlchemy would store."""
    names = list(rows[0])
    sqlite_insert_values(conn, table, names, sqlite_values(conn.dialect, table, names, rows))

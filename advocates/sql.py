"""Database helpers for the batch paths: PostgreSQL fast paths (COPY, array parameters) with
portable fallbacks, for both apps (rewards imports them; this module imports neither app).

Why COPY: `bulk_create` on PostgreSQL binds each column as an array that psycopg builds in
Python, which for batches of thousands of rows costs more than the insert itself.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
    models,
    transaction,
)


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def is_deadlock(exc: BaseException) -> bool:
    """Whether a database error is a deadlock or a serialization failure (worth a retry)."""
    # 40P01 deadlock_detected, 40001 serialization_failure (PostgreSQL SQLSTATEs).
    return getattr(getattr(exc, "__cause__", None), "sqlstate", None) in ("40P01", "40001")


def is_not_a_row_error(exc: BaseException) -> bool:
    """Whether an error says nothing about the rows being written: a deadlock or serialization
    failure, a lost connection, a cancelled statement (Django's OperationalError and
    InterfaceError). A batch that meets one runs again whole; it never sets a row aside."""
    return is_deadlock(exc) or isinstance(exc, OperationalError | InterfaceError)


@models.Field.register_lookup
class AnyIds(models.Lookup):
    """`field__any_ids=[1, 2, …]`: `field = ANY('{1,2,…}'::bigint[])` on PostgreSQL.

    One parameter instead of thousands of `IN (%s, …)` placeholders (which cost more to build
    and parse than the query costs to run), and unlike `IN (SELECT unnest(…))` the planner
    knows how many ids there are, so it keeps using the index. Elsewhere a plain IN list.
    """

    lookup_name = "any_ids"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        ids = [int(i) for i in self.rhs]
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s::bigint[])", [*lhs_params, "{" + ",".join(map(str, ids))
                                                  + "}"]
        if not ids:
            return "1 = 0", list(lhs_params)
        return f"{lhs} IN ({', '.join(['%s'] * len(ids))})", [*lhs_params, *ids]


# Relations keep their own lookup registry.
models.ForeignObject.register_lookup(AnyIds)


def ids_in(ids: Collection[int]) -> list[int]:
    """The ids for an `__any_ids` lookup (a list; sets keep their order stable this way)."""
    return list(ids)


def insert_rows(model: type[models.Model], attnames: Sequence[str],
                rows: Sequence[Sequence[Any]]) -> None:
    """Insert plain tuples (values in `attnames` order) with COPY on PostgreSQL.

    Skips building a model instance per row, which dominates large batches; elsewhere the
    rows become instances for bulk_create. Columns not named get no Django default, so name
    every NOT NULL column without a database default.
    """
    if not rows:
        return
    if not is_postgres():
        model._default_manager.bulk_create(
            [model(**dict(zip(attnames, r, strict=True))) for r in rows], batch_size=1000)
        return
    # PostgreSQL only: psycopg is not needed by the SQLite demo.
    from psycopg.types.json import Jsonb

    meta = model._meta
    by_attname = {f.attname: f for f in meta.concrete_fields}
    columns = ", ".join(f'"{by_attname[a].column}"' for a in attnames)
    json_at = [i for i, a in enumerate(attnames)
               if isinstance(by_attname[a], models.JSONField)]
    with connection.cursor() as cur, cur.copy(
            f'COPY "{meta.db_table}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            if json_at:
                row = list(row)
                for i in json_at:
                    row[i] = Jsonb(row[i])
            copy.write_row(row)


def copy_instances(model: type[models.Model], instances: Sequence[models.Model]) -> list[int]:
    """Insert unsaved instances (COPY on PostgreSQL, bulk_create elsewhere); set their ids.

    The ids are drawn from the table's sequence first, so nothing has to be read back. Every
    concrete column is written as the instance holds it. COPY has no ON CONFLICT: a unique
    value stored meanwhile by another transaction raises IntegrityError, so callers run this
    in a savepoint and fall back to `bulk_create(ignore_conflicts=True)`.
    """
    if not instances:
        return []
    if not is_postgres():
        model._default_manager.bulk_create(instances, batch_size=1000)
        return [instance.pk for instance in instances]
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    qn = connection.ops.quote_name
    pk = meta.pk
    # Every concrete model has a primary key, and it is a concrete field with a column.
    if pk is None or pk.column is None:
        raise TypeError(f"{model.__name__} has no primary key column to return")
    columns = ", ".join(qn(str(f.column)) for f in (pk, *fields))
    with connection.cursor() as cursor:
        ids = _ids_drawn(cursor, meta.db_table, pk.column, len(instances))
        # The real wrapper, not the thread-local `connection` proxy: the prep functions look
        # at it for every value, and each proxy lookup is a contextvar read.
        wrapper = connections[model._default_manager.db]
        prep = [(f.attname, f.get_db_prep_save) for f in fields]
        # The raw psycopg cursor has copy(); errors are wrapped back into Django's classes.
        with connection.wrap_database_errors, cursor.cursor.copy(
                f"COPY {qn(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for row_id, instance in zip(ids, instances, strict=True):
                copy.write_row((row_id, *(save(getattr(instance, attname), wrapper)
                                          for attname, save in prep)))
    for row_id, instance in zip(ids, instances, strict=True):
        instance.pk = row_id
        instance._state.adding = False
    return ids


def copy_rows(model, columns: Sequence[str], rows: Sequence[tuple]) -> list[int]:
    """PostgreSQL: COPY rows (values for `columns`, attnames) into `model`'s table; their ids.

    Every other column gets its model default. Ids are drawn from the table's sequence first,
    so the rows need not be looked up again. COPY has no ON CONFLICT: a unique key stored
    meanwhile by a concurrent batch raises IntegrityError, and callers fall back to the ORM.
    """
    if not rows:
        return []
    qn = connection.ops.quote_name
    fields = {f.attname: f for f in model._meta.concrete_fields}
    pk = model._meta.pk.attname
    others = [f for name, f in fields.items() if name not in columns and name != pk]
    defaults = tuple(_json_default_text(f.get_db_prep_save(f.get_default(), connection))
                     for f in others)
    names = ", ".join(qn(fields[name].column) for name in (pk, *columns))
    names += "".join(f", {qn(f.column)}" for f in others)
    table = model._meta.db_table
    with connection.cursor() as cursor:
        ids = _ids_drawn(cursor, table, model._meta.pk.column, len(rows))
        # The raw psycopg cursor has copy(); errors are wrapped back into Django's classes.
        with connection.wrap_database_errors, \
                cursor.cursor.copy(f"COPY {qn(table)} ({names}) FROM STDIN") as copy:
            write = copy.write_row
            for row_id, row in zip(ids, rows, strict=True):
                write((row_id, *row, *defaults))
    return ids


def _ids_drawn(cursor, table: str, pk_column: str, count: int) -> list[int]:
    """`count` new ids from the table's sequence, so COPY can write them and callers know them."""
    cursor.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
        [table, pk_column, count])
    return [row[0] for row in cursor.fetchall()]


def _json_default_text(value):
    # JSON defaults come wrapped for psycopg (Jsonb); serialise them once, not once per row.
    obj = getattr(value, "obj", None)
    return json.dumps(obj) if obj is not None else value


# How deeply a stored JSON document may nest. Real payloads stay under 15 levels; Python's
# json and our own walkers recurse, and a 100k-deep line raised RecursionError (issue 17).
JSON_MAX_DEPTH = 64
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonTooDeep(ValueError):
    """A JSON document nested deeper than JSON_MAX_DEPTH."""


def text_storable(value: str) -> str:
    """`value` with NUL and unpaired surrogates replaced by U+FFFD (neither can be stored:
    PostgreSQL refuses NUL in text and jsonb, and UTF-8 cannot encode a lone surrogate)."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    if _LONE_SURROGATE.search(value):
        value = _LONE_SURROGATE.sub("\ufffd", value)
    return value


def json_storable(value: Any, _depth: int = 0) -> Any:
    """Decoded JSON with every NUL and unpaired surrogate in a string (keys too) replaced by
    U+FFFD and non-finite floats by None; `JsonTooDeep` when it nests deeper than JSON_MAX_DEPTH.

    What a platform or Stripe sent and signed is genuine, and refusing it would make the
    sender redeliver it for days, so it is stored with the characters replaced rather than
    answered with an error.
    """
    if isinstance(value, str):
        return text_storable(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None  # Python's json reads Infinity and NaN; JSON (and jsonb) has neither
    if _depth >= JSON_MAX_DEPTH and isinstance(value, list | dict):
        raise JsonTooDeep(f"JSON nested deeper than {JSON_MAX_DEPTH} levels")
    if isinstance(value, list):
        return [json_storable(item, _depth + 1) for item in value]
    if isinstance(value, dict):
        return {text_storable(str(key)): json_storable(item, _depth + 1)
                for key, item in value.items()}
    return value


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def json_loads_bounded(text: str | bytes) -> Any:
    """`json.loads`, with too-deep documents as `JsonTooDeep` (a ValueError) instead of a
    RecursionError, and the result made storable (`json_storable`)."""
    try:
        return json_storable(json.loads(text, parse_constant=_not_json))
    except RecursionError:
        raise JsonTooDeep(f"JSON nested deeper than {JSON_MAX_DEPTH} levels") from None


T = TypeVar("T")


def rows_isolate(rows: Sequence[T], run: Callable[[Sequence[T]], object], *,
                 errors: tuple[type[Exception], ...] = (DatabaseError,)
                 ) -> list[tuple[T, Exception]]:
    """Run `run` on `rows` in a savepoint; if the database refuses, run each half, down to
    single rows, so every row that can go through does. Returns the rows that failed on
    their own, each with its error.

    For a batch that already failed as a whole (design: "a batch that fails retries in
    halves so the good rows go through"). `run` must write only through the database, so a
    rolled-back savepoint leaves nothing behind, and must tolerate being called again for
    rows it saw in a failed chunk. A deadlock or a lost connection is not a bad row
    (`is_not_a_row_error`): it propagates, for the caller to retry the whole batch. One bad
    row among n costs about 2·log2(n) attempts. `errors` are what counts as a row's failure
    (a task whose Python code can fail on a row passes `(Exception,)`).
    """
    failures: list[tuple[T, Exception]] = []
    pending: list[Sequence[T]] = [rows] if rows else []
    while pending:
        chunk = pending.pop()
        try:
            with transaction.atomic():
                run(chunk)
        except errors as exc:
            if is_not_a_row_error(exc):
                raise
            if len(chunk) == 1:
                failures.append((chunk[0], exc))
                continue
            middle = len(chunk) // 2
            pending += [chunk[middle:], chunk[:middle]]  # the first half is tried first
    return failures

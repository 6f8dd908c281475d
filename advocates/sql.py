"""Database helpers for the batch paths, for both apps (rewards imports them; this module
imports neither app).

PostgreSQL is the product database; SQLite runs the demo. Each hot path has one PostgreSQL
fast path and one portable fallback, and the choice between them (`is_postgres()`) is made
here, not by the callers:

- `insert_rows` (tuples, nothing read back): COPY; else `bulk_create`.
- `rows_insert`, `copy_instances` (ids back): COPY with ids drawn from the sequence first;
  else `bulk_create`.
- `rows_insert_new`, `instances_insert_new` (rows whose unique key may be stored already):
  COPY in a savepoint; else, and on PostgreSQL when a concurrent batch stored a key
  meanwhile, `insert_ignoring`.
- `insert_ignoring` (one row, or the fallback above): INSERT … ON CONFLICT DO NOTHING
  RETURNING on both (SQLite spells it INSERT OR IGNORE).
- `rows_by_keys` (rows by two-column keys): jsonb_to_recordset + LATERAL; else IN lists.
- `rows_update` (each row its own values): UPDATE … FROM jsonb_to_recordset; else
  `bulk_update`.
- the `__any_ids` lookup: `= ANY(array)`; else an IN list.

All COPYs go through `_copy`. "Our" rows are the ones the database says it inserted (ids
drawn before COPY, or RETURNING), never rows found again by a timestamp. tests/advocates/
test_sql.py runs each helper on both databases, the fallback on PostgreSQL included.

Why COPY: `bulk_create` on PostgreSQL binds each column as an array that psycopg builds in
Python, which for batches of thousands of rows costs more than the insert itself.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, TypeVar

from django.db import (
    DatabaseError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
    models,
    transaction,
)
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery


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


def _keys_q(keys: Iterable[tuple[str, str]], first: str, second: str) -> models.Q:
    """One `Q` matching (first, second) pairs, grouped by the first so it stays an IN list."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for a, b in keys:
        grouped[a].append(b)
    query = models.Q(pk__in=[])
    for a, bs in grouped.items():
        query |= models.Q(**{first: a, f"{second}__in": bs})
    return query


def rows_by_keys(model: type[models.Model], keys: Collection[tuple[str, str]], first: str,
                 second: str, columns: Sequence[str]) -> list[tuple]:
    """`columns` of the rows whose (first, second) is among `keys`.

    (first, second) must be unique in the table. On PostgreSQL the keys travel as one JSON
    parameter (a 2,000-key IN list costs more to build, quote and parse than the lookup) and
    each is looked up in a LATERAL ... LIMIT 1 subquery, which keeps the plan on the unique
    index even while a bulk load has left the table's statistics saying it is empty (a hash
    join over a sequential scan then made every batch slower than the one before).
    """
    if not keys:
        return []
    if not is_postgres():  # the fallback: an IN list per first value
        return list(model._default_manager.filter(_keys_q(keys, first, second))
                    .values_list(*columns))
    qn = connection.ops.quote_name
    fields = {f.name: f for f in model._meta.concrete_fields}
    select = ", ".join(qn(str(fields[c].column)) for c in columns)
    sql = (f"SELECT t.* FROM jsonb_to_recordset(%s::jsonb) AS k(a text, b text) "  # noqa: S608
           f"CROSS JOIN LATERAL (SELECT {select} FROM {qn(model._meta.db_table)} "
           f"WHERE {qn(str(fields[first].column))} = k.a "
           f"AND {qn(str(fields[second].column))} = k.b "
           f"LIMIT 1) t")
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps([{"a": a, "b": b} for a, b in keys])])
        return cursor.fetchall()


def rows_update(model: type[M], instances: Sequence[M], fields: Sequence[str], *,
                lock_first: bool = False) -> None:
    """Store `fields` (names) of many saved instances, each row its own values.

    Fast path (PostgreSQL): one UPDATE … FROM jsonb_to_recordset(one JSON parameter);
    `bulk_update`'s CASE WHEN per row and column cost 2.9 ms a mention to build and run for a
    batch of 300 (bench/load.py, docs/reliability.md section 8), more than detecting and
    routing them. With `lock_first` the rows are locked in id order first: the UPDATE's join
    locks them in whatever order the plan yields, and two batches updating the same rows
    then deadlock. Fallback: `bulk_update` (the SQLite demo).
    """
    if not instances:
        return
    if not is_postgres():
        model._default_manager.bulk_update(instances, list(fields))
        return
    meta = model._meta
    qn = connection.ops.quote_name
    updated = _key_fields(model, fields)
    table = qn(meta.db_table)
    record = ", ".join(["id bigint", *(f"c{i} {f.db_type(connection)}"
                                       for i, f in enumerate(updated))])
    assignments = ", ".join(f"{qn(str(f.column))} = c.c{i}" for i, f in enumerate(updated))
    ids = [instance.pk for instance in instances]
    payload = json.dumps(
        [{"id": instance.pk, **{f"c{i}": getattr(instance, f.attname)
                                for i, f in enumerate(updated)}} for instance in instances],
        ensure_ascii=False, default=_json_scalar)
    with connection.cursor() as cursor:
        if lock_first:
            cursor.execute(f"SELECT id FROM {table} WHERE id = ANY(%s) "  # noqa: S608
                           "ORDER BY id FOR NO KEY UPDATE", [sorted(ids)])
        cursor.execute(f"UPDATE {table} t SET {assignments} "  # noqa: S608
                       f"FROM jsonb_to_recordset(%s::jsonb) AS c({record}) WHERE t.id = c.id",
                       [payload])


def _json_scalar(value: Any) -> Any:
    # Datetimes in full (DjangoJSONEncoder would cut them to milliseconds); jsonb_to_recordset
    # reads them back into the record's column type.
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def ids_in(ids: Collection[int]) -> list[int]:
    """The ids for an `__any_ids` lookup (a list; sets keep their order stable this way)."""
    return list(ids)


M = TypeVar("M", bound=models.Model)


class JsonText(str):
    """A JSON document already serialised, for a JSON column: COPY writes it as it is (no
    second encoding), and the portable fallback parses it back into the value it holds."""

    __slots__ = ()


def insert_rows(model: type[models.Model], attnames: Sequence[str],
                rows: Sequence[Sequence[Any]]) -> None:
    """Insert plain tuples (values in `attnames` order); nothing is read back.

    Skips building a model instance per row, which dominates large batches. Columns not
    named get no Django default, so name every NOT NULL column without a database default.
    Fast path COPY (PostgreSQL); fallback `bulk_create` (the SQLite demo).
    """
    if not rows:
        return
    if not is_postgres():
        model._default_manager.bulk_create(
            [model(**_row_values(attnames, r)) for r in rows], batch_size=1000)
        return
    by_attname = {f.attname: f for f in model._meta.concrete_fields}
    json_at = [i for i, a in enumerate(attnames)
               if isinstance(by_attname[a], models.JSONField)]
    if json_at:
        rows = [tuple(_json_text(v) if i in json_at else v for i, v in enumerate(r))
                for r in rows]
    _copy(model, attnames, rows, draw_ids=False, fill_defaults=False)


def copy_instances(model: type[models.Model], instances: Sequence[models.Model]) -> list[int]:
    """Insert unsaved instances and set their ids; the ids.

    Fast path COPY (PostgreSQL; every concrete column is written as the instance holds it);
    fallback `bulk_create` (the SQLite demo). COPY has no ON CONFLICT: a unique value stored
    meanwhile by another transaction raises IntegrityError; `instances_insert_new` is the
    variant that skips those.
    """
    if not instances:
        return []
    if not is_postgres():
        model._default_manager.bulk_create(instances, batch_size=1000)
        return [instance.pk for instance in instances]
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    # The real wrapper, not the thread-local `connection` proxy: the prep functions look at
    # it for every value, and each proxy lookup is a contextvar read.
    wrapper = connections[model._default_manager.db]
    prep = [(f.attname, f.get_db_prep_save) for f in fields]
    ids = _copy(model, [f.attname for f in fields],
                [tuple(save(getattr(instance, attname), wrapper) for attname, save in prep)
                 for instance in instances], draw_ids=True, fill_defaults=False)
    for row_id, instance in zip(ids, instances, strict=True):
        instance.pk = row_id
        instance._state.adding = False
    return ids


def rows_insert(model: type[models.Model], columns: Sequence[str],
                rows: Sequence[Sequence[Any]]) -> list[int]:
    """Insert rows (values for `columns`, attnames; other columns get their model defaults)
    into a table without a unique key to meet; their ids, in row order.

    Fast path COPY (PostgreSQL); fallback `bulk_create` (the SQLite demo). A JSON column's
    value may be `JsonText`.
    """
    if not rows:
        return []
    if is_postgres():
        return _copy(model, columns, rows, draw_ids=True, fill_defaults=True)
    instances = [model(**_row_values(columns, row)) for row in rows]
    model._default_manager.bulk_create(instances, batch_size=1000)
    return [instance.pk for instance in instances]


def rows_insert_new(model: type[models.Model], columns: Sequence[str],
                    rows: Sequence[Sequence[Any]], *, unique: Sequence[str]) -> list[int | None]:
    """Insert rows (values for `columns`, attnames; other columns get their model defaults)
    except those whose `unique` key is stored already; each row's new id in row order, None
    for a row that was not inserted.

    For batches whose stored keys the caller has just filtered out. Fast path (PostgreSQL):
    COPY in a savepoint, with ids drawn from the sequence. Fallback (SQLite, and PostgreSQL
    when a concurrent transaction stored one of the keys meanwhile, which COPY cannot skip):
    INSERT … ON CONFLICT DO NOTHING RETURNING, so "ours" are the rows the database says it
    inserted. A JSON column's value may be `JsonText`.
    """
    if not rows:
        return []
    if is_postgres():
        try:
            with transaction.atomic():  # a savepoint: a failed COPY leaves the batch usable
                return list(_copy(model, columns, rows, draw_ids=True, fill_defaults=True))
        except IntegrityError:
            pass  # a concurrent batch stored some of these keys meanwhile
    instances = [model(**_row_values(columns, row)) for row in rows]
    insert_ignoring(model, instances, unique)
    return [instance.pk for instance in instances]


def instances_insert_new(model: type[M], instances: Sequence[M], *,
                         unique: Sequence[str]) -> list[M]:
    """Insert unsaved instances except those whose `unique` key is stored already (or repeats
    an earlier instance's); the instances inserted, with their ids.

    Fast path (PostgreSQL): look the keys up, COPY the new ones in a savepoint. Fallback
    (SQLite, and PostgreSQL when a concurrent transaction stored one of the keys meanwhile):
    INSERT … ON CONFLICT DO NOTHING RETURNING.
    """
    if not instances:
        return []
    if is_postgres():
        attnames = [f.attname for f in _key_fields(model, unique)]
        first = _first_by_key(instances, attnames)
        stored = set(model._default_manager.filter(_keys_in(attnames, list(first)))
                     .values_list(*attnames))
        fresh = [instance for key, instance in first.items() if key not in stored]
        try:
            with transaction.atomic():  # a savepoint: a failed COPY leaves the batch usable
                copy_instances(model, fresh)
        except IntegrityError:
            for instance in fresh:
                instance.pk, instance._state.adding = None, True
        else:
            return fresh
    return insert_ignoring(model, instances, unique)


def _key_fields(model: type[models.Model], unique: Sequence[str]) -> list[models.Field]:
    """The concrete fields named (by name or attname) in `unique`, in that order."""
    by_name: dict[str, models.Field] = {}
    for field in model._meta.concrete_fields:
        by_name[field.name] = by_name[field.attname] = field
    return [by_name[name] for name in unique]


def _first_by_key(instances: Sequence[M], unique: Sequence[str]) -> dict[tuple[Any, ...], M]:
    first: dict[tuple[Any, ...], M] = {}
    for instance in instances:
        first.setdefault(tuple(getattr(instance, name) for name in unique), instance)
    return first


def _keys_in(unique: Sequence[str], keys: list[tuple[Any, ...]]) -> models.Q:
    if len(unique) == 1:
        return models.Q(**{f"{unique[0]}__in": [key[0] for key in keys]})
    query = models.Q(pk__in=[])
    for key in keys:
        query |= models.Q(**dict(zip(unique, key, strict=True)))
    return query


def insert_ignoring(model: type[M], instances: Sequence[M], unique: Sequence[str]) -> list[M]:
    """INSERT … ON CONFLICT DO NOTHING (SQLite: INSERT OR IGNORE) RETURNING the id and the
    `unique` columns, in batches the backend accepts; the instances the database inserted get
    their ids and are returned. Any database: the fallback of the batch inserts above, and
    the one path for single rows (one round trip; a duplicate raises nothing, so it needs no
    savepoint)."""
    meta = model._meta
    pk = meta.pk
    if pk is None:
        raise TypeError(f"{model.__name__} has no primary key to return")
    key_fields = _key_fields(model, unique)
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    first = _first_by_key(instances, [f.attname for f in key_fields])
    batch = connection.ops.bulk_batch_size(fields, list(instances)) or len(instances)
    inserted: list[M] = []
    with connection.cursor() as cursor:
        for start in range(0, len(instances), batch):
            query = InsertQuery(model, on_conflict=OnConflict.IGNORE)
            query.insert_values(fields, list(instances[start:start + batch]))
            compiler = query.get_compiler(connection=connection)
            compiler.returning_fields = [pk, *key_fields]
            for sql, params in compiler.as_sql():
                cursor.execute(sql, params)
            for row_id, *key in cursor.fetchall():
                instance = first[tuple(key)]
                instance.pk, instance._state.adding = row_id, False
                inserted.append(instance)
    return inserted


def _row_values(columns: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    return {name: json.loads(value) if isinstance(value, JsonText) else value
            for name, value in zip(columns, row, strict=True)}


def _json_text(value: Any) -> str:
    return value if isinstance(value, JsonText) else json.dumps(value)


def _copy(model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence[Any]],
          *, draw_ids: bool, fill_defaults: bool) -> list[int]:
    """The one COPY: write `rows` (values COPY takes, for `columns`, attnames) into `model`'s
    table. With `draw_ids` the ids are drawn from the table's sequence first and written
    with the rows, so nothing has to be read back (returned in row order; else []). With
    `fill_defaults` every column not named gets its model default.

    Why COPY: `bulk_create` on PostgreSQL binds each column as an array that psycopg builds
    in Python, which for batches of thousands of rows costs more than the insert itself.
    """
    if not rows:
        return []
    meta = model._meta
    qn = connection.ops.quote_name
    by_attname = {f.attname: f for f in meta.concrete_fields}
    pk = meta.pk
    # Every concrete model has a primary key, and it is a concrete field with a column.
    if pk is None or pk.column is None:
        raise TypeError(f"{model.__name__} has no primary key column")
    names = [str(by_attname[name].column) for name in columns]
    defaults: tuple[Any, ...] = ()
    if fill_defaults:
        others = [f for f in meta.concrete_fields
                  if f.attname not in columns and not f.primary_key]
        defaults = tuple(_json_default_text(f.get_db_prep_save(f.get_default(), connection))
                         for f in others)
        names += [str(f.column) for f in others]
    if draw_ids:
        names.insert(0, pk.column)
    table = meta.db_table
    with connection.cursor() as cursor:
        ids = _ids_drawn(cursor, table, pk.column, len(rows)) if draw_ids else []
        # The raw psycopg cursor has copy(); errors are wrapped back into Django's classes.
        with connection.wrap_database_errors, cursor.cursor.copy(
                f"COPY {qn(table)} ({', '.join(qn(n) for n in names)}) FROM STDIN") as copy:
            write = copy.write_row
            if draw_ids:
                for row_id, row in zip(ids, rows, strict=True):
                    write((row_id, *row, *defaults))
            else:
                for row in rows:
                    write((*row, *defaults))
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

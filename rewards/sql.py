"""Small database helpers for the batch paths (PostgreSQL fast paths, portable fallbacks)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from django.db import connection, models


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


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


def copy_insert(model: type[models.Model], rows: Sequence[models.Model]) -> None:
    """Insert unsaved instances with COPY on PostgreSQL (bulk_create elsewhere).

    Every concrete column but the id is written (Django fills defaults on instantiation).
    For batches whose ids the caller does not need back; a constraint violation fails the
    whole COPY, like bulk_create.
    """
    if not rows:
        return
    if not is_postgres():
        model._default_manager.bulk_create(rows, batch_size=1000)
        return
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    columns = [f'"{f.column}"' for f in fields]
    attnames = [f.attname for f in fields]
    sql = f'COPY "{meta.db_table}" ({", ".join(columns)}) FROM STDIN'
    with connection.cursor() as cur, cur.copy(sql) as copy:
        for row in rows:
            copy.write_row([getattr(row, a) for a in attnames])


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

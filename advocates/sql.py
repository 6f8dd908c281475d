"""Bulk writes for the batch paths: COPY on PostgreSQL, the ORM elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, connections, models


def copy_instances(model: type[models.Model], instances: Sequence[models.Model]) -> list[int]:
    """Insert unsaved instances with COPY (PostgreSQL only); set and return their ids.

    The ids are drawn from the table's sequence first, so nothing has to be read back. Every
    concrete column is written as the instance holds it. COPY has no ON CONFLICT: a unique
    value stored meanwhile by another transaction raises IntegrityError, so callers run this
    in a savepoint and fall back to `bulk_create(ignore_conflicts=True)`.

    `bulk_create` on PostgreSQL binds each column as an array that psycopg builds in Python;
    for batches of hundreds of rows that costs more than the insert itself.
    """
    if not instances:
        return []
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    qn = connection.ops.quote_name
    pk = meta.pk
    assert pk is not None  # every concrete model has one
    columns = ", ".join(qn(str(f.column)) for f in (pk, *fields))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, pk.column, len(instances)])
        ids = [row[0] for row in cursor.fetchall()]
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


def json_storable(value: Any) -> Any:
    """Decoded JSON with every NUL in a string (keys too) replaced by U+FFFD.

    PostgreSQL's jsonb and text cannot hold NUL. What a platform or Stripe sent and signed is
    genuine, and refusing it would make the sender redeliver it for days, so it is stored with
    the character replaced rather than answered with an error.
    """
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, list):
        return [json_storable(item) for item in value]
    if isinstance(value, dict):
        return {json_storable(key): json_storable(item) for key, item in value.items()}
    return value

"""Shared by the benches: CPU time of this process's PostgreSQL backend.

On a shared machine wall time says as much about the neighbours as about Kansha; CPU time does
not. Read from /proc, so only when PostgreSQL runs on this machine.
"""

from __future__ import annotations

import os
from pathlib import Path


def backend_cpu_seconds() -> float:
    """CPU seconds used so far by Django's connection's PostgreSQL backend (nan if unknown)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

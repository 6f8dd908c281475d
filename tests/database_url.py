"""Which database `make test` uses: print its URL ("" for SQLite) and, on stderr, one line
saying which.

DATABASE_URL wins when it is set (`.ci/run` sets it). Otherwise PostgreSQL at the URL given
as the argument when it accepts a connection (pytest-django then creates and drops the
`test_…` database next to the one named), else SQLite, the embedded default.

Usage: python tests/database_url.py postgres://postgres@127.0.0.1:5432/kansha_test
"""

from __future__ import annotations

import os
import sys

import psycopg


def _reachable(url: str) -> str:
    """Why PostgreSQL at `url` refuses a connection to its maintenance database ("" if not)."""
    maintenance = url.rsplit("/", 1)[0] + "/postgres"
    try:
        psycopg.connect(maintenance, connect_timeout=3).close()
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ""


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    given = os.environ.get("DATABASE_URL", "").strip()
    if given:
        print(f"make test: database from DATABASE_URL ({given.split('@')[-1]})", file=sys.stderr)
        print(given)
        return 0
    candidate = argv[1]
    why_not = _reachable(candidate)
    if why_not:
        print(f"make test: database SQLite (no PostgreSQL at {candidate.split('@')[-1]}: "
              f"{why_not})", file=sys.stderr)
        print("")
    else:
        name = candidate.rsplit("/", 1)[-1]
        print(f"make test: database PostgreSQL ({candidate.split('@')[-1]}, the suite runs "
              f"in test_{name})", file=sys.stderr)
        print(candidate)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

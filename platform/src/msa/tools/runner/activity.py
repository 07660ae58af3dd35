"""What the local PostgreSQL did, per database: statements, commits and rollbacks.

Read from the server's own statistics (`pg_stat_statements`, loaded by the runner,
and `pg_stat_database`), so a test can hold a use case to a statement and commit
budget without timing anything. PostgreSQL flushes a backend's transaction counts
to `pg_stat_database` within about ten seconds of its last transaction
(`FLUSH_LAG`): a reading taken sooner may miss the latest commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from msa.tools.runner.databases import superuser_connection
from msa.tools.runner.postgres import PostgresServer

FLUSH_LAG = 11.0  # seconds: PostgreSQL's idle stats flush interval (10 s) and a margin


@dataclass(frozen=True)
class Activity:
    """Counters of one database since the server started (or since a reading)."""

    statements: int
    commits: int
    rollbacks: int

    def __sub__(self, other: Activity) -> Activity:
        return Activity(self.statements - other.statements, self.commits - other.commits,
                        self.rollbacks - other.rollbacks)


_READ = """
SELECT d.datname AS name, coalesce(s.calls, 0) AS statements,
       d.xact_commit AS commits, d.xact_rollback AS rollbacks
FROM pg_stat_database d
LEFT JOIN (SELECT dbid, sum(calls)::bigint AS calls FROM pg_stat_statements GROUP BY dbid) s
       ON s.dbid = d.datid
WHERE d.datname = ANY($1::text[])
"""


async def read_activity(server: PostgresServer, databases: Iterable[str]) -> dict[str, Activity]:
    """The counters of each database (statements counted by pg_stat_statements)."""
    conn = await superuser_connection(server)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        rows = await conn.fetch(_READ, list(databases))
    finally:
        await conn.close()
    return {row["name"]: Activity(int(row["statements"]), int(row["commits"]),
                                  int(row["rollbacks"])) for row in rows}

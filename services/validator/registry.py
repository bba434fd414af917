"""The candidate registry the validator reads.

One small interface, two implementations: our own PostgreSQL tables (here),
and a LORIS site's own tables (loris_registry.py); registry_choice.py picks one.
"""

from dataclasses import dataclass
from typing import Protocol

import asyncpg


@dataclass(frozen=True)
class Candidate:
    candid: str
    pscid: str
    active: bool
    site: str  # the alias of the candidate's site
    project: str | None = None  # LORIS site mode: the name of the candidate's registration project


@dataclass(frozen=True)
class Session:
    candid: str
    visit_label: str
    active: bool


class CandidateRegistry(Protocol):
    async def candidate(self, candid: str) -> Candidate | None: ...

    async def session(self, candid: str, visit_label: str) -> Session | None: ...


class PostgresRegistry:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def candidate(self, candid: str) -> Candidate | None:
        row = await self._conn.fetchrow(
            """SELECT c.candid, c.pscid, c.active, s.alias AS site
               FROM validator.candidates c JOIN validator.sites s USING (site_id)
               WHERE c.candid = $1""",
            candid,
        )
        return Candidate(**row) if row else None

    async def session(self, candid: str, visit_label: str) -> Session | None:
        row = await self._conn.fetchrow(
            "SELECT candid, visit_label, active FROM validator.sessions WHERE candid = $1 AND visit_label = $2",
            candid,
            visit_label,
        )
        return Session(**row) if row else None

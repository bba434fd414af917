"""The candidate registry of a LORIS site: its own `candidate`, `session` and `psc` tables, read at the moment of
each check (no copy, no sync), one indexed query per lookup.

- CandID is an int in LORIS. The CandID typed must be the one LORIS shows, as LORIS's module requires: "012345"
  is not CandID 12345 (LORIS compares the number it found, as text, with what was typed).
- The candidate's site is the alias of its registration site (`psc.Alias` of `RegistrationCenterID`), its project
  the name of its registration project (`Project.Name` of `RegistrationProjectID`), as LORIS's
  Candidate::isAccessibleBy reads them.
- A visit is the `session` of that candidate (`CandidateID` is `candidate.ID`) with that `Visit_label`,
  compared exactly as typed (MariaDB's collation would match "v1" to "V1"; the uploader's own registry does not).
- `Entity_type` is not read: LORIS's imaging uploader checks a 'Scanner' candidate as any other (CandID, PSCID,
  visit, both active), so an upload for one is judged the same way here.

A connection-level error comes out as LorisDatabaseAway (services/common/loris_db.py).
"""

from services.common.loris_connections import LorisConnections
from services.validator.registry import Candidate, Session

CANDIDATE_QUERY = """
    SELECT c.CandID, c.PSCID, c.Active, p.Alias, pr.Name
    FROM candidate c JOIN psc p ON p.CenterID = c.RegistrationCenterID
    LEFT JOIN Project pr ON pr.ProjectID = c.RegistrationProjectID
    WHERE c.CandID = %s"""

SESSIONS_QUERY = """
    SELECT s.Visit_label, s.Active
    FROM candidate c JOIN session s ON s.CandidateID = c.ID
    WHERE c.CandID = %s AND s.Visit_label = %s"""


class LorisRegistry:
    def __init__(self, loris: LorisConnections) -> None:
        self._loris = loris

    async def candidate(self, candid: str) -> Candidate | None:
        number = candid_number(candid)
        if number is None:
            return None
        rows = await self._fetch(CANDIDATE_QUERY, (number,))
        if not rows:
            return None
        _, pscid, active, site, project = rows[0]
        return Candidate(candid=candid, pscid=pscid, active=active == "Y", site=site, project=project)

    async def session(self, candid: str, visit_label: str) -> Session | None:
        number = candid_number(candid)
        if number is None:
            return None
        rows = await self._fetch(SESSIONS_QUERY, (number, visit_label))
        # LORIS has no unique key on a candidate's visit label: of several rows, an active one counts.
        exact = [active for label, active in rows if label == visit_label]
        if not exact:
            return None
        return Session(candid=candid, visit_label=visit_label, active="Y" in exact)

    async def _fetch(self, query: str, args: tuple) -> list[tuple]:
        async with self._loris.connection() as conn, conn.cursor() as cursor:
            await cursor.execute(query, args)
            return list(await cursor.fetchall())


def candid_number(candid: str) -> int | None:
    """The CandID as LORIS stores it, or None when no LORIS CandID is written that way (a leading zero,
    a digit that is not ASCII)."""
    if not (candid.isascii() and candid.isdigit()):
        return None
    number = int(candid)
    return number if str(number) == candid else None

"""A LORIS site of a benchmark's own on the local MariaDB, made and dropped by the bench: a LORIS database
(bench_<what>_<random>) with LORIS's tables and the demo project (tests/support/loris.py, as the tests'
administrator in var/mariadb-admin-*, which `scripts/setup.sh --with-loris` makes), LORIS accounts for the bench's
users, candidates in bulk, and the uploader's own MariaDB user granted only what docs/loris-site.md lists (made as
scripts/local_mariadb.sh makes it).

    site = BenchLorisSite("preflight", work_dir)
    await site.create()                                    # the database, the demo project, the uploader's user
    await site.add_account("bench", ["superuser"])
    await site.add_candidates(100_000)
    env = {"UPLOADER_LORIS_DATABASE_URL": site.uploader_url}
    ...
    await site.drop()
"""

import asyncio
import contextlib
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from services.validator.demo_registry import SITES  # noqa: E402
from tests.support.loris import (  # noqa: E402
    connect_as_admin,
    create_demo_loris_database,
    drop_loris_database,
    loris_url,
    uploader_user_of,
)

FIRST_BULK_CANDID = 500_000  # above the demo project's CandIDs (300001, 300002, 400001)
ROWS_PER_INSERT = 5_000


@dataclass(frozen=True)
class BulkCandidate:
    """The candidate number `index` of those add_candidates inserts, and its one visit V1."""

    index: int

    @property
    def candid(self) -> str:
        return str(FIRST_BULK_CANDID + self.index)

    @property
    def site(self) -> str:
        return SITES[self.index % len(SITES)][1]

    @property
    def pscid(self) -> str:
        return f"{self.site}{self.candid}"

    @property
    def active(self) -> bool:
        return self.index % 10 != 0

    @property
    def visit_active(self) -> bool:
        return self.index % 7 != 0


def yes_no(flag: bool) -> str:
    return "Y" if flag else "N"


class BenchLorisSite:
    def __init__(self, what: str, work: Path) -> None:
        self.name = f"bench_{what}_{uuid.uuid4().hex[:8]}"
        self._work = work
        self._users = contextlib.ExitStack()
        self._created = False
        self.uploader_url: str | None = None

    @property
    def admin_url(self) -> str:
        """The administrator's URL: what LORIS-MRI's stand-in in a bench may use (it writes notification_spool)."""
        return loris_url(self.name)

    async def create(self) -> None:
        self._created = True
        await create_demo_loris_database(self.name)
        self.uploader_url = (await asyncio.to_thread(
            self._users.enter_context, uploader_user_of(self.name, self._work / "loris-password"))).strip()

    async def add_account(self, username: str, permission_codes: list[str], sites: list[str] = ()) -> None:
        """An active LORIS account, approved, with these permission codes and sites (psc.Alias); no password: the
        bench signs in with an API token of the uploader's."""
        await self._in_one_transaction(self._save_account, username, permission_codes, list(sites))

    async def add_candidates(self, count: int) -> None:
        """`count` candidates (BulkCandidate), each with its visit V1, as LORIS stores them: candidate rows of the
        demo project spread over the demo sites, and a session row of the same site and project each."""
        await self._in_one_transaction(self._save_candidates, count)

    async def drop(self) -> None:
        if self._created:
            await drop_loris_database(self.name)
        await asyncio.to_thread(self._users.close)

    async def _in_one_transaction(self, write, *args) -> None:
        conn = await connect_as_admin(self.name)
        try:
            await conn.begin()
            async with conn.cursor() as cursor:
                await write(cursor, *args)
            await conn.commit()
        finally:
            conn.close()

    @staticmethod
    async def _save_account(cursor, username: str, permission_codes: list[str], sites: list[str]) -> None:
        await cursor.execute(
            """INSERT INTO users (UserID, Real_name, Email, Active, Pending_approval, PasswordChangeRequired)
               VALUES (%s, %s, %s, 'Y', 'N', 0)""", (username, username, f"{username}@bench.invalid"))
        user_id = cursor.lastrowid
        await cursor.execute("INSERT INTO user_perm_rel (userID, permID) SELECT %s, permID FROM permissions "
                             "WHERE code IN %s", (user_id, permission_codes))
        if sites:
            await cursor.execute("INSERT INTO user_psc_rel (UserID, CenterID) SELECT %s, CenterID FROM psc "
                                 "WHERE Alias IN %s", (user_id, sites))

    @staticmethod
    async def _save_candidates(cursor, count: int) -> None:
        await cursor.execute("SELECT Alias, CenterID FROM psc")
        center_ids = dict(await cursor.fetchall())
        await cursor.execute("SELECT ProjectID FROM Project")
        (project_id,) = await cursor.fetchone()
        candidates = [BulkCandidate(index) for index in range(count)]
        for start in range(0, count, ROWS_PER_INSERT):
            # executemany sends these as multi-row INSERTs
            await cursor.executemany(
                """INSERT INTO candidate (CandID, PSCID, RegistrationCenterID, RegistrationProjectID, Active,
                                          Entity_type) VALUES (%s, %s, %s, %s, %s, %s)""",
                [(int(c.candid), c.pscid, center_ids[c.site], project_id, yes_no(c.active), "Human")
                 for c in candidates[start:start + ROWS_PER_INSERT]])
        # BulkCandidate.visit_active, in SQL: every 7th visit inactive.
        await cursor.execute(
            """INSERT INTO session (CandidateID, CenterID, ProjectID, Visit_label, Active)
               SELECT ID, RegistrationCenterID, RegistrationProjectID, 'V1',
                      IF(MOD(CandID - %s, 7) = 0, 'N', 'Y')
               FROM candidate WHERE CandID >= %s ORDER BY ID""", (FIRST_BULK_CANDID, FIRST_BULK_CANDID))

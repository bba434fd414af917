"""A LORIS user as LORIS's tables say it is now: account state, password hash, and what the imaging uploader
may let it do (permissions from user_perm_rel, sites from user_psc_rel, projects from user_project_rel when
LORIS's Config useAdvancedPermissions is true)."""

from dataclasses import dataclass, field
from datetime import date

import aiomysql

from services.common.loris_connections import LorisConnections
from services.common.scope import ALL_PERMISSIONS
from services.gateway.auth.users import User

SUPERUSER = "superuser"  # LORIS: "supersedes all permissions"


@dataclass(frozen=True)
class LorisAccount:
    username: str  # users.UserID, spelled as LORIS keeps it
    password_hash: str | None = field(repr=False)
    active: bool
    pending_approval: bool
    active_from: date | None
    active_to: date | None
    password_change_required: bool
    permissions: frozenset[str]  # the uploader's permission codes only
    sites: tuple[str, ...]  # psc.Alias
    projects: tuple[str, ...] | None  # Project.Name; None when projects do not limit (useAdvancedPermissions off)

    def as_user(self, user_id: int) -> User:
        """The user, with `user_id` of the gateway's own row (the one its sessions and tokens point to)."""
        return User(user_id, self.username, self.permissions, self.sites, self.projects)


def uploader_permissions(codes: set[str]) -> frozenset[str]:
    if SUPERUSER in codes:
        return ALL_PERMISSIONS
    return frozenset(codes & ALL_PERMISSIONS)


def is_true(config_value: str | None) -> bool:
    return (config_value or "").strip().lower() in ("true", "1")


async def read_account(loris: LorisConnections, username: str) -> LorisAccount | None:
    """The account of this username (as LORIS compares names: without regard to case); None when there is none.
    Raises LorisDatabaseAway when LORIS's database cannot be reached."""
    async with loris.connection() as conn:
        async with conn.cursor() as cursor:
            await cursor.execute(
                """SELECT ID, UserID, Password_hash, Active, Pending_approval, active_from, active_to,
                          PasswordChangeRequired
                   FROM users WHERE UserID = %s""", (username,))
            row = await cursor.fetchone()
            if row is None:
                return None
            user_id, name, password_hash, active, pending, active_from, active_to, change_required = row
            codes = await _column(cursor, """SELECT p.code FROM user_perm_rel r JOIN permissions p USING (permID)
                                             WHERE r.userID = %s""", user_id)
            sites = await _column(cursor, """SELECT s.Alias FROM user_psc_rel r JOIN psc s USING (CenterID)
                                             WHERE r.UserID = %s""", user_id)
            projects = await _projects(cursor, user_id)
    return LorisAccount(
        username=name, password_hash=password_hash, active=active == "Y", pending_approval=pending == "Y",
        active_from=active_from, active_to=active_to, password_change_required=bool(change_required),
        permissions=uploader_permissions(set(codes)), sites=tuple(sorted(sites)), projects=projects)


async def _projects(cursor: aiomysql.Cursor, user_id: int) -> tuple[str, ...] | None:
    advanced = await _column(cursor, """SELECT c.Value FROM Config c JOIN ConfigSettings s ON s.ID = c.ConfigID
                                        WHERE s.Name = 'useAdvancedPermissions'""")
    if not any(is_true(value) for value in advanced):
        return None
    projects = await _column(cursor, """SELECT p.Name FROM user_project_rel r JOIN Project p USING (ProjectID)
                                        WHERE r.UserID = %s""", user_id)
    return tuple(sorted(projects))


async def _column(cursor: aiomysql.Cursor, query: str, *args) -> list:
    await cursor.execute(query, args)
    return [row[0] for row in await cursor.fetchall()]

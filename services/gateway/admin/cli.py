"""uploader-admin: manage the gateway's users and API tokens, and write a demo scan archive.

  uploader-admin user add NAME [--site ALIAS]... [--permission P]...
  uploader-admin user grant NAME PERMISSION...     (adds to the user's permissions)
  uploader-admin user revoke NAME PERMISSION...    (takes them away)
  uploader-admin user password NAME     (the password is the first line of standard input)
  uploader-admin user list
  uploader-admin token issue NAME       (prints only the new token)
  uploader-admin token revoke TOKEN
  uploader-admin demo-archive [--broken] [--output DIR]

The database is the one of UPLOADER_DATABASE_URL; pending migrations are applied first.
In LORIS site mode (UPLOADER_LORIS_DATABASE_URL set) the users are LORIS's: `token issue` takes the name of an
active LORIS account, and `user add/grant/revoke/password` are refused.
"""

import argparse
import asyncio
import getpass
import sys
from datetime import date
from pathlib import Path

import asyncpg
import pydantic

from services.common.loris_connections import LorisConnections
from services.common.loris_db import LorisDatabaseAway
from services.common.migrations import apply_migrations
from services.common.scope import ALL_PERMISSIONS
from services.common.settings import GatewaySettings
from services.gateway.admin.demo_archive import write_demo_archive
from services.gateway.auth.account_states import account_refusal
from services.gateway.auth.loris_accounts import read_account
from services.gateway.auth.users import (UnknownUserError, add_user, change_permissions, issue_token, list_users,
                                         revoke_token, set_password, user_of_username)

PROG = "uploader-admin"


class AdminError(Exception):
    """A failure told to the user as one line on stderr, with this exit code."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UnknownUserError as error:
        print(f"{PROG}: {error} Add it first with: {PROG} user add {error.username}", file=sys.stderr)
        return 1
    except AdminError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130


# --- the commands -----------------------------------------------------------


async def add_user_command(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    user = await add_user(conn, args.name, args.sites, args.permissions)
    print(
        f"User {user.username!r} now has {_described('sites', user.sites)}"
        f" and {_described('permissions', sorted(user.permissions))}."
    )
    return 0


async def grant_permission_command(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    user = await change_permissions(conn, args.name, grant=args.permissions)
    print(f"User {user.username!r} now has {_described('permissions', sorted(user.permissions))}.")
    return 0


async def revoke_permission_command(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    user = await change_permissions(conn, args.name, revoke=args.permissions)
    print(f"User {user.username!r} now has {_described('permissions', sorted(user.permissions))}.")
    return 0


async def set_password_command(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    await set_password(conn, args.name, _read_password())
    print(f"The password of {args.name!r} is set.")
    return 0


async def list_users_command(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    users = await list_users(conn)
    if not users:
        print(f"There are no users yet. Add one with: {PROG} user add NAME")
        return 0
    header = ("NAME", "SITES", "PERMISSIONS", "PASSWORD", "TOKENS")
    rows = [
        (
            user.username,
            ", ".join(user.sites) or "-",
            ", ".join(user.permissions) or "-",
            "set" if user.has_password else "not set",
            str(user.token_count),
        )
        for user in users
    ]
    print(_table([header, *rows]))
    return 0


async def issue_token_command(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    username = args.name
    loris_database_url = _settings().loris_database_url
    if loris_database_url:
        username = await _active_loris_username(loris_database_url, args.name)
        await user_of_username(conn, username)
    print(await issue_token(conn, username, lifetime=None, issued_by="admin"))
    return 0


async def _active_loris_username(loris_database_url: str, name: str) -> str:
    """LORIS site mode: the name of the LORIS account `name` as LORIS spells it, which must let its user in now."""
    try:
        loris = LorisConnections(loris_database_url)
        try:
            account = await read_account(loris, name)
        finally:
            await loris.close()
    except LorisDatabaseAway as away:
        raise AdminError(f"Cannot reach the LORIS database of UPLOADER_LORIS_DATABASE_URL: {away}") from away
    if account is None:
        raise AdminError(f"There is no LORIS user named {name!r}: users live in LORIS in LORIS site mode.")
    refusal = account_refusal(account, date.today())
    if refusal is not None:
        raise AdminError(f"{refusal} No token was issued.")
    return account.username


async def revoke_token_command(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    if not await revoke_token(conn, args.token):
        raise AdminError("No API token matches the one given: nothing was revoked.")
    print("The token is revoked: it no longer gives access.")
    return 0


def demo_archive_command(args: argparse.Namespace) -> int:
    try:
        path = write_demo_archive(args.output, broken=args.broken)
    except OSError as error:
        raise AdminError(f"Cannot write the demo archive into {args.output}: {error.strerror}.") from error
    print(path.resolve())
    return 0


# --- helpers ----------------------------------------------------------------


def _read_password() -> str:
    if sys.stdin.isatty():
        password = getpass.getpass("New password: ")
    else:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not password:
        raise AdminError("The password is empty: give it on the first line of standard input.")
    return password


def _described(noun: str, values) -> str:
    return f"{noun} {', '.join(values)}" if values else f"no {noun}"


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def _with_database(command):
    """Run an async command with a connection to the database, its migrations applied."""

    def run(args: argparse.Namespace) -> int:
        return asyncio.run(_run_with_database(command, args))

    return run


def _standalone_only(command):
    """A command on the gateway's own users, refused in LORIS site mode, where the users are LORIS's."""

    def run(args: argparse.Namespace) -> int:
        if _settings().loris_database_url:
            raise AdminError("The users live in LORIS (UPLOADER_LORIS_DATABASE_URL is set): add them, set their "
                             "passwords, permissions and sites in LORIS. The uploader keeps no password of its own.")
        return command(args)

    return run


async def _run_with_database(command, args: argparse.Namespace) -> int:
    pool = await _open_database()
    try:
        await apply_migrations(pool)
        async with pool.acquire() as conn:
            return await command(conn, args)
    except asyncpg.PostgresError as error:
        raise AdminError(f"The database refused the change: {error}") from error
    finally:
        await pool.close()


def _settings() -> GatewaySettings:
    try:
        return GatewaySettings()
    except pydantic.ValidationError as error:
        problem = error.errors()[0]
        raise AdminError(f"The setting {problem['loc'][0]} is not valid: {problem['msg']}.") from error


async def _open_database() -> asyncpg.Pool:
    database_url = _settings().database_url
    try:
        # No retries, unlike the services: an administrator wants to know at once.
        return await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        raise AdminError(f"Cannot connect to the database of UPLOADER_DATABASE_URL: {error}") from error


# --- the command line -------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _user_name(value: str) -> str:
    if not value.strip() or value != value.strip():
        raise argparse.ArgumentTypeError(f"{value!r} is not a user name: it may not be empty or start or end with spaces")
    return value


def _site_alias(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("a site alias may not be empty")
    return value.strip()


def _uploader_permission(value: str) -> str:
    if value not in ALL_PERMISSIONS:
        allowed = ", ".join(sorted(ALL_PERMISSIONS))
        raise argparse.ArgumentTypeError(f"{value!r} is not an uploader permission; the allowed ones are {allowed}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Manage the gateway's users and API tokens, and write a demo scan archive.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _add_user_commands(commands.add_parser("user", help="add users, set their password, list them"))
    _add_token_commands(commands.add_parser("token", help="issue and revoke API tokens"))
    demo = commands.add_parser("demo-archive", help="write a small DICOM archive of candidate MTL0001_300001_V1")
    demo.add_argument("--broken", action="store_true",
                      help="whose DICOM PatientName differs from its name, so that the pipeline fails it")
    demo.add_argument("--output", type=Path, default=Path("."), metavar="DIR",
                      help="the folder to write it into (default: the current one)")
    demo.set_defaults(run=demo_archive_command)
    return parser


def _add_user_commands(user: argparse.ArgumentParser) -> None:
    commands = user.add_subparsers(title="commands", metavar="COMMAND", required=True)
    add = commands.add_parser("add", help="create a user, or set an existing user's sites and permissions")
    add.add_argument("name", type=_user_name, metavar="NAME")
    add.add_argument("--site", dest="sites", action="append", default=[], type=_site_alias, metavar="ALIAS",
                     help="a site alias such as MTL (repeat for several); replaces the user's sites")
    add.add_argument("--permission", dest="permissions", action="append", default=[], type=_uploader_permission,
                     metavar="P", help=f"one of {', '.join(sorted(ALL_PERMISSIONS))} (repeat for several);"
                     " replaces the user's permissions")
    add.set_defaults(run=_standalone_only(_with_database(add_user_command)))
    grant = commands.add_parser("grant", help="give a user more permissions, keeping its others and its sites")
    grant.add_argument("name", type=_user_name, metavar="NAME")
    grant.add_argument("permissions", nargs="+", type=_uploader_permission, metavar="PERMISSION",
                       help=f"one or more of {', '.join(sorted(ALL_PERMISSIONS))}")
    grant.set_defaults(run=_standalone_only(_with_database(grant_permission_command)))
    revoke = commands.add_parser("revoke", help="take permissions away from a user, keeping its others")
    revoke.add_argument("name", type=_user_name, metavar="NAME")
    revoke.add_argument("permissions", nargs="+", type=_uploader_permission, metavar="PERMISSION",
                        help=f"one or more of {', '.join(sorted(ALL_PERMISSIONS))}")
    revoke.set_defaults(run=_standalone_only(_with_database(revoke_permission_command)))
    password = commands.add_parser("password", help="set a user's password, read from standard input")
    password.add_argument("name", type=_user_name, metavar="NAME")
    password.set_defaults(run=_standalone_only(_with_database(set_password_command)))
    listing = commands.add_parser("list", help="every user, with sites, permissions and whether a password is set")
    listing.set_defaults(run=_with_database(list_users_command))


def _add_token_commands(token: argparse.ArgumentParser) -> None:
    commands = token.add_subparsers(title="commands", metavar="COMMAND", required=True)
    issue = commands.add_parser("issue", help="print a new API token for a user (it never expires)")
    issue.add_argument("name", type=_user_name, metavar="NAME")
    issue.set_defaults(run=_with_database(issue_token_command))
    revoke = commands.add_parser("revoke", help="revoke an API token")
    revoke.add_argument("token", metavar="TOKEN")
    revoke.set_defaults(run=_with_database(revoke_token_command))


if __name__ == "__main__":
    sys.exit(main())

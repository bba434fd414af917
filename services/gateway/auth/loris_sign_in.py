"""LORIS site mode: a sign-in checks a LORIS username and password as LORIS does (users.Password_hash, as PHP's
password_verify), then the account's state. The gateway keeps a row of the username only, for the session or
the token to point to."""

import logging
from datetime import date

import asyncpg

from services.common.loris_db import LorisDatabaseAway
from services.gateway.auth.account_states import account_refusal
from services.gateway.auth.loris_users import LorisUsers
from services.gateway.auth.password_checks import PasswordChecks
from services.gateway.auth.php_passwords import is_bcrypt, verify_php_password
from services.gateway.auth.sign_in_refusals import AccountRefused, LorisDatabaseUnavailable
from services.gateway.auth.users import User, user_of_username

log = logging.getLogger(__name__)


async def loris_sign_in(pool: asyncpg.Pool, loris_users: LorisUsers, checks: PasswordChecks, username: str,
                        password: str) -> User | None:
    """The user, or None for an unknown username or a wrong password (alike). Raises AccountRefused when LORIS
    does not let the account in now, and LorisDatabaseUnavailable while LORIS's database is away."""
    try:
        account = await loris_users.read(username)
    except LorisDatabaseAway as away:
        log.warning("a sign-in could not read the LORIS database", extra={"error": str(away)})
        raise LorisDatabaseUnavailable() from away
    password_hash = account.password_hash if account else None
    if account is not None and password_hash and not is_bcrypt(password_hash):
        log.warning("a LORIS user's password hash is not bcrypt, which the uploader cannot check: the sign-in is "
                    "refused (the user may set a new password in LORIS)",
                    extra={"username": account.username, "hash_kind": password_hash[:4]})
    if not await checks.verify(password_hash, password, verify_php_password):
        return None
    refusal = account_refusal(account, date.today())
    if refusal is not None:
        raise AccountRefused(refusal)
    row = await user_of_username(pool, account.username)
    return account.as_user(row.user_id)

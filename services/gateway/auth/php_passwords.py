"""LORIS's password hashes (users.Password_hash), checked as PHP's password_verify checks them.

LORIS makes them with PHP's password_hash(..., PASSWORD_DEFAULT): bcrypt under PHP's prefix $2y$, which is the
same algorithm as $2b$. PHP's bcrypt uses only the first 72 bytes of a password, so they are cut there (Python's
bcrypt refuses longer ones rather than cutting them)."""

import functools
import secrets

import bcrypt

BCRYPT_PREFIXES = ("$2y$", "$2b$", "$2a$")
BCRYPT_MAX_PASSWORD_BYTES = 72
DUMMY_COST = 10  # PHP's default cost, so that an unknown user costs the time of a real one


def is_bcrypt(password_hash: str | None) -> bool:
    return password_hash is not None and password_hash.startswith(BCRYPT_PREFIXES)


def verify_php_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches the bcrypt hash, as PHP's password_verify says. A missing hash (an unknown
    user, or a hash of another kind) never matches, but costs the time of a real check."""
    if not is_bcrypt(password_hash):
        _matches(_dummy_hash(), password)
        return False
    return _matches("$2b$" + password_hash[len("$2y$"):], password)


def _matches(password_hash: str, password: str) -> bool:
    secret = password.encode()[:BCRYPT_MAX_PASSWORD_BYTES]
    try:
        return bcrypt.checkpw(secret, password_hash.encode())
    except ValueError:  # a malformed hash, or a NUL byte in the password (PHP would cut there; we refuse)
        return False


@functools.cache
def _dummy_hash() -> str:
    return bcrypt.hashpw(secrets.token_urlsafe(32).encode(), bcrypt.gensalt(rounds=DUMMY_COST)).decode()

"""Password hashes: argon2id, with argon2-cffi's default parameters."""

import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import Argon2Error

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches the hash. A missing hash never matches, but
    costs the same time as a real one, so that timing does not tell whether a user exists."""
    if password_hash is None:
        _matches(_dummy_hash(), password)
        return False
    return _matches(password_hash, password)


def _matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (Argon2Error, ValueError):  # a wrong password, or a malformed hash (InvalidHashError)
        return False


@functools.cache
def _dummy_hash() -> str:
    """A hash made with the same parameters as real ones, of a password nobody knows."""
    return hash_password(secrets.token_urlsafe(32))

"""LORIS's password hashes are checked as PHP's password_verify checks them: bcrypt under $2y$ (and $2a$, $2b$),
only the first 72 bytes of a password counting; any other kind of hash never matches."""

import bcrypt
import pytest

from services.gateway.auth.php_passwords import is_bcrypt, verify_php_password

PASSWORD = "a LORIS password, with ünïcode"


def php_hash(password: bytes, prefix: str = "$2y$") -> str:
    return prefix + bcrypt.hashpw(password, bcrypt.gensalt(rounds=4)).decode().removeprefix("$2b$")


@pytest.mark.parametrize("prefix", ["$2y$", "$2a$", "$2b$"])
def test_a_bcrypt_hash_under_any_of_its_prefixes_verifies_its_password_and_no_other(prefix):
    password_hash = php_hash(PASSWORD.encode(), prefix)

    assert verify_php_password(password_hash, PASSWORD)
    assert not verify_php_password(password_hash, PASSWORD + " ")


def test_only_the_first_72_bytes_of_a_password_count_as_in_php():
    long_password = "é" * 40  # 80 bytes in UTF-8
    password_hash = php_hash(long_password.encode()[:72])

    assert verify_php_password(password_hash, long_password)
    assert verify_php_password(password_hash, long_password[:36] + "anything after the 72nd byte")


@pytest.mark.parametrize("password_hash", [
    None, "", "5f4dcc3b5aa765d61d8327deb882cf99",
    "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$2y$10$not a bcrypt hash",
])
def test_no_hash_or_one_of_another_kind_never_matches(password_hash):
    assert not verify_php_password(password_hash, PASSWORD)


def test_only_bcrypt_hashes_are_bcrypt():
    assert is_bcrypt(php_hash(b"x"))
    assert not is_bcrypt("$argon2id$v=19$...")
    assert not is_bcrypt(None)

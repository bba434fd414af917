from services.gateway.auth.passwords import hash_password, verify_password


def test_the_password_that_was_hashed_matches_its_hash():
    assert verify_password(hash_password("correct horse"), "correct horse")


def test_a_hash_does_not_hold_the_password_in_clear():
    password_hash = hash_password("correct horse")

    assert "correct horse" not in password_hash
    assert password_hash.startswith("$argon2id$")


def test_two_hashes_of_one_password_differ_by_their_salt():
    assert hash_password("correct horse") != hash_password("correct horse")


def test_a_wrong_password_does_not_match():
    assert not verify_password(hash_password("correct horse"), "correct horse ")


def test_a_malformed_hash_matches_nothing_and_raises_nothing():
    assert not verify_password("not an argon2 hash", "correct horse")
    assert not verify_password("", "")
    assert not verify_password("$argon2id$v=19$m=65536,t=3,p=4$AAAA$BBBB", "correct horse")


def test_a_missing_hash_matches_nothing():
    assert not verify_password(None, "")
    assert not verify_password(None, "correct horse")

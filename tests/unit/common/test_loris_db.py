"""The LORIS database's URL is read as MariaDB's client needs it, and only the errors that mean the server
cannot be reached read as LorisDatabaseAway."""

import pymysql
import pytest

from loris_standin.tables import SCHEMA_SQL, schema_statements
from services.common.loris_db import (
    LorisDatabaseAddress,
    LorisDatabaseAway,
    loris_database_reachable,
)


def test_a_url_gives_user_password_host_port_and_database():
    address = LorisDatabaseAddress.from_url("mysql://uploader:secret@db.example.org:3307/LORIS")

    assert address == LorisDatabaseAddress(user="uploader", password="secret", host="db.example.org", port=3307,
                                           database="LORIS")


def test_the_port_is_3306_unless_given_and_the_password_may_be_empty():
    address = LorisDatabaseAddress.from_url("mysql://root@127.0.0.1/loris")

    assert (address.port, address.password) == (3306, "")


def test_a_url_encoded_password_and_user_are_decoded():
    address = LorisDatabaseAddress.from_url("mysql://up%40loader:p%40ss%3Aw%2Frd%25@localhost/loris")

    assert (address.user, address.password) == ("up@loader", "p@ss:w/rd%")


def test_the_password_stays_out_of_the_address_s_repr():
    assert "secret" not in repr(LorisDatabaseAddress.from_url("mysql://uploader:secret@localhost/loris"))


@pytest.mark.parametrize("url, complaint", [
    ("postgresql://uploader@localhost/loris", "must start with mysql://"),
    ("mysql://uploader@localhost/", "needs a user, a host and a database"),
    ("mysql://localhost/loris", "needs a user, a host and a database"),
    ("mysql://uploader@/loris", "needs a user, a host and a database"),
])
def test_an_incomplete_or_foreign_url_is_refused_with_what_it_lacks(url, complaint):
    with pytest.raises(ValueError, match=complaint):
        LorisDatabaseAddress.from_url(url)


@pytest.mark.parametrize("error", [
    pymysql.err.OperationalError(2003, "Can't connect to MySQL server on '127.0.0.1'"),
    pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query"),
    pymysql.err.OperationalError(1040, "Too many connections"),
    pymysql.err.InterfaceError(0, "Not connected"),
    ConnectionResetError("reset by peer"),
    OSError("network is unreachable"),
    TimeoutError(),
], ids=lambda error: type(error).__name__)
def test_connection_level_errors_become_loris_database_away(error):
    with pytest.raises(LorisDatabaseAway, match="the LORIS database cannot be reached") as away, \
            loris_database_reachable():
        raise error

    assert away.value.__cause__ is error


@pytest.mark.parametrize("error", [
    pymysql.err.OperationalError(1142, "INSERT command denied to user 'uploader'"),
    pymysql.err.OperationalError(1045, "Access denied for user 'uploader'"),
    pymysql.err.ProgrammingError(1064, "You have an error in your SQL syntax"),
    ValueError("not a database error"),
], ids=lambda error: type(error).__name__)
def test_other_errors_come_out_as_themselves(error):
    with pytest.raises(type(error)) as raised, loris_database_reachable():
        raise error

    assert raised.value is error


def test_the_schema_splits_into_its_statements_without_its_comments():
    statements = schema_statements(SCHEMA_SQL.read_text())

    creates = [statement.split("`")[1] for statement in statements if statement.startswith("CREATE TABLE")]
    assert creates == ["psc", "Project", "candidate", "session", "users", "permissions", "user_perm_rel",
                       "user_psc_rel", "user_project_rel", "ConfigSettings", "Config", "tarchive", "mri_upload",
                       "notification_types", "notification_spool"]
    assert not any("--" in statement or statement.endswith(";") for statement in statements)


def test_a_schema_whose_last_statement_lacks_its_semicolon_is_refused():
    with pytest.raises(ValueError, match="ends without a semicolon"):
        schema_statements("CREATE TABLE a (b int);\nCREATE TABLE c (d int)\n")

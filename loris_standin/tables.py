"""The stand-in LORIS tables (schema.sql), loaded statement by statement through a driver's cursor, which
runs one statement at a time (the mariadb client loads the file whole: `mariadb loris < schema.sql`)."""

import warnings
from pathlib import Path

import aiomysql
import pymysql

SCHEMA_SQL = Path(__file__).with_name("schema.sql")


def schema_statements(sql: str) -> list[str]:
    """The statements of schema.sql: its comment lines left out, each statement ending with `;` at a line's end."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    statements, current = [], []
    for line in lines:
        current.append(line)
        if line.rstrip().endswith(";"):
            statements.append("\n".join(current).strip().removesuffix(";"))
            current = []
    if "".join(current).strip():
        raise ValueError(f"schema.sql ends without a semicolon: {' '.join(current)[:80]}")
    return statements


async def load_tables(cursor: aiomysql.Cursor) -> None:
    """Creates the tables that are missing and adds the permission codes, settings and log types (idempotent)."""
    with warnings.catch_warnings():
        # On a second load the server notes each table that exists and each row already there: as meant.
        warnings.simplefilter("ignore", pymysql.Warning)
        for statement in schema_statements(SCHEMA_SQL.read_text()):
            await cursor.execute(statement)

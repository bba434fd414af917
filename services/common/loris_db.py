"""A LORIS site's MariaDB (UPLOADER_LORIS_DATABASE_URL): a small aiomysql pool, opened with retries so that a
service can start before it, and one error, LorisDatabaseAway, for "it cannot be reached now" (a request
answers 503 for it)."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import aiomysql
import pymysql

from services.common.loris_url import LorisDatabaseAddress
from services.common.startup_retry import connect_when_reachable

log = logging.getLogger(__name__)

POOL_MAX_SIZE = 4

# MariaDB's error codes that mean the server cannot be reached or is going away, rather than a fault of the
# statement (a permission refused, say, is an OperationalError too, and must not read as "unreachable").
SERVER_AWAY_CODES = frozenset({
    1040,  # too many connections
    1053,  # the server is shutting down
    1927,  # the connection was killed
    2002,  # cannot connect through the socket
    2003,  # cannot connect over TCP
    2006,  # the server has gone away
    2013,  # the connection was lost during a query
})


class LorisDatabaseAway(Exception):
    """The LORIS database cannot be reached now."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"the LORIS database cannot be reached: {cause}")


def is_server_away(error: BaseException) -> bool:
    if isinstance(error, pymysql.err.OperationalError):
        return bool(error.args) and error.args[0] in SERVER_AWAY_CODES
    # InterfaceError: aiomysql's "not connected" on a connection the server dropped.
    return isinstance(error, (pymysql.err.InterfaceError, ConnectionError, OSError, TimeoutError))


@contextmanager
def loris_database_reachable() -> Iterator[None]:
    """Around a use of the LORIS database: its connection-level errors come out as LorisDatabaseAway; any other
    error (a refused permission, bad SQL) as itself."""
    try:
        yield
    except Exception as error:
        if is_server_away(error):
            raise LorisDatabaseAway(error) from error
        raise


async def _create_pool(address: LorisDatabaseAddress, max_size: int) -> aiomysql.Pool:
    with loris_database_reachable():
        return await aiomysql.create_pool(
            host=address.host, port=address.port, user=address.user, password=address.password,
            db=address.database, charset="utf8mb4", autocommit=True, minsize=1, maxsize=max_size)


async def open_loris_pool(url: str, *, max_size: int = POOL_MAX_SIZE, wait_seconds: float = 60) -> aiomysql.Pool:
    """The pool, once the database answers; LorisDatabaseAway if it has not within `wait_seconds`.
    Close it with `pool.close(); await pool.wait_closed()`."""
    address = LorisDatabaseAddress.from_url(url)
    return await connect_when_reachable(
        lambda: _create_pool(address, max_size), (LorisDatabaseAway,),
        what="LORIS database", wait_seconds=wait_seconds, log=log)

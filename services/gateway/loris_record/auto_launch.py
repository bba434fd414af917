"""Whether an upload through /api/v1 (and the web page) is launched as soon as it is validated: the uploader's
UPLOADER_AUTO_LAUNCH when it is given; else, in LORIS site mode, LORIS's own setting ImagingUploaderAutoLaunch
(Config, '1' is true), read at the moment of the decision and kept at most CACHE_SECONDS; else (standalone) true.

While MariaDB is away the last value read decides, or LORIS's default ('0') when none was read yet: an accept
never waits for MariaDB."""

import asyncio
import logging
import time

from services.common.loris_connections import LorisConnections
from services.common.loris_db import LorisDatabaseAway

log = logging.getLogger(__name__)

CACHE_SECONDS = 60.0
READ_TIMEOUT_SECONDS = 2.0
LORIS_DEFAULT = False
SETTING_NAME = "ImagingUploaderAutoLaunch"


class LorisAutoLaunch:
    def __init__(self, loris: LorisConnections) -> None:
        self._loris = loris
        self._value: bool | None = None
        self._read_at = float("-inf")

    async def wanted(self) -> bool:
        if time.monotonic() - self._read_at > CACHE_SECONDS:
            try:
                async with asyncio.timeout(READ_TIMEOUT_SECONDS):
                    self._value = await self._read()
                self._read_at = time.monotonic()
            except (LorisDatabaseAway, TimeoutError) as error:
                log.warning("LORIS's ImagingUploaderAutoLaunch not read; the last value read decides",
                            extra={"error": repr(error), "value": self._value})
        return LORIS_DEFAULT if self._value is None else self._value

    async def _read(self) -> bool:
        async with self._loris.connection() as conn, conn.cursor() as cursor:
            await cursor.execute(
                """SELECT c.Value FROM Config c JOIN ConfigSettings s ON s.ID = c.ConfigID
                   WHERE s.Name = %s ORDER BY c.ID LIMIT 1""", (SETTING_NAME,))
            found = await cursor.fetchone()
        return found is not None and str(found[0]).strip() == "1"

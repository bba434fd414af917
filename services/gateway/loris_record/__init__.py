"""LORIS site mode's upload record: each upload's one row in LORIS's mri_upload (keeper.py), and LORIS's
ImagingUploaderAutoLaunch (auto_launch.py)."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from services.common.app_keys import POOL, SCAN_STORE, SETTINGS
from services.common.loris_connections import LORIS_CONNECTIONS
from services.common.loris_db import LorisDatabaseAway
from services.gateway.loris_record.auto_launch import LorisAutoLaunch
from services.gateway.loris_record.keeper import LorisRecordKeeper

log = logging.getLogger(__name__)

LORIS_RECORD_KEEPER = web.AppKey("loris_record_keeper", LorisRecordKeeper)
LORIS_AUTO_LAUNCH = web.AppKey("loris_auto_launch", LorisAutoLaunch)
# How long an accept waits for its row before it answers without LORIS's UploadID (the keeper writes it later).
INLINE_WRITE_SECONDS = 2.0


def with_loris_record(app: web.Application) -> None:
    """In LORIS site mode (after with_loris_connections), the keeper and its background loop."""
    if app[SETTINGS].loris_database_url is None:
        return

    async def keeper_ctx(app: web.Application) -> AsyncIterator[None]:
        keeper = LorisRecordKeeper(app[POOL], app[LORIS_CONNECTIONS], app[SCAN_STORE])
        app[LORIS_RECORD_KEEPER] = keeper
        app[LORIS_AUTO_LAUNCH] = LorisAutoLaunch(app[LORIS_CONNECTIONS])
        task = asyncio.create_task(keeper.run(app[SETTINGS].outbox_poll_seconds))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(keeper_ctx)


async def write_row_now(app: web.Application, upload_id: int) -> int | None:
    """Right after an accept: the upload's LORIS UploadID, written now if MariaDB answers within
    INLINE_WRITE_SECONDS; None standalone, or when it is left to the keeper's loop."""
    keeper = app.get(LORIS_RECORD_KEEPER)
    if keeper is None:
        return None
    try:
        return await keeper.write_row(upload_id, timeout=INLINE_WRITE_SECONDS)
    except (LorisDatabaseAway, TimeoutError) as error:
        log.warning("LORIS upload row left for the keeper: the LORIS database cannot be reached",
                    extra={"upload_id": upload_id, "error": repr(error)})
    except Exception:
        log.exception("LORIS upload row left for the keeper", extra={"upload_id": upload_id})
    return None


async def auto_launch_wanted(app: web.Application) -> bool:
    """The decision of the module docstring of auto_launch.py."""
    given = app[SETTINGS].auto_launch
    if given is not None:
        return given
    auto_launch = app.get(LORIS_AUTO_LAUNCH)
    return True if auto_launch is None else await auto_launch.wanted()

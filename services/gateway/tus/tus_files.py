"""Where a tus upload's bytes are while it is incomplete: the scan store's `.tus/` folder (the incoming folder,
shared by the gateway replicas), one file a tus upload, created by its first PATCH. A file never outlives its
row: the row is deleted only after the file, both under the row's lock."""

import asyncio
import os
import uuid
from pathlib import Path

from services.common.scan_store import PendingScan, ScanStore
from services.gateway.uploads.file_rules import SNIFF_BYTES


def tus_file(store: ScanStore, tus_id: str) -> Path:
    return store.local_path(f".tus/{tus_id}.part")


def open_at(path: Path, offset: int) -> PendingScan:
    """The file, cut back to `offset` (bytes a crash left past the recorded offset were never acknowledged),
    ready to take what follows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if offset > 0 and not path.exists():
        raise FileNotFoundError(path)
    # Unbuffered: what was read from the client is in the file at once, so a cut-off PATCH keeps all it read.
    handle = open(path, "r+b" if path.exists() else "x+b", buffering=0)
    handle.truncate(offset)
    handle.seek(offset)
    return PendingScan(path, handle)


async def cut_back(path: Path, offset: int) -> None:
    """Drop what a refused chunk wrote past `offset`, durably."""
    await asyncio.to_thread(_truncate_and_sync, path, offset)


def whole_file(path: Path, size: int) -> PendingScan:
    """The finished file as a scan on its way to its key: a second name (a hard link) of it, which the store
    moves to the key, so that a kill before the attempt's record commits leaves the tus upload whole, to be
    finished again (FileNotFoundError when another request ended it)."""
    link = path.with_name(f"{path.stem}.finishing-{uuid.uuid4().hex}")
    os.link(path, link)
    pending = PendingScan(link, open(link, "r+b"))
    pending.size = size
    return pending


def leading_bytes(path: Path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(SNIFF_BYTES)


def remove_file(path: Path) -> None:
    """The upload's file, and the second names a finish killed midway left beside it."""
    for name in (path, *path.parent.glob(f"{path.stem}.finishing-*")):
        name.unlink(missing_ok=True)


def _truncate_and_sync(path: Path, offset: int) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(offset)
        os.fsync(handle.fileno())

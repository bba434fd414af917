"""Where incoming scans are kept between the gateway and the launchers.

One small interface, one implementation now: a directory shared by the
gateway and the launchers (a compose volume on one host, NFS across hosts).
An S3-compatible store can implement the same interface later.

Each attempt's file has a key of its own, so a new upload never writes over a
file that a pipeline may be reading. A file is written under a temporary
name, flushed to disk, then renamed to its key.
"""

import asyncio
import os
import uuid
from pathlib import Path
from typing import BinaryIO, Protocol


def scan_key(username: str, upload_id: int, attempt: int, file_name: str) -> str:
    return f"{username}/{upload_id}/attempt-{attempt}/{file_name}"


# While a scan streams in, its bytes are pushed to disk in the background every
# this many bytes, so that the final fsync has little left to wait for.
WRITEBACK_EVERY_BYTES = 64 * 1024**2


class PendingScan:
    """A scan being received: bytes go to a temporary file until commit or discard."""

    def __init__(self, path: Path, handle: BinaryIO) -> None:
        self.path = path
        self.size = 0
        self._handle = handle
        self._unsynced = 0
        self._writeback: asyncio.Future | None = None

    def write(self, chunk: bytes) -> None:
        self._handle.write(chunk)
        self.size += len(chunk)
        self._unsynced += len(chunk)
        if self._unsynced >= WRITEBACK_EVERY_BYTES and (self._writeback is None or self._writeback.done()):
            self._unsynced = 0
            self._handle.flush()
            self._writeback = asyncio.get_running_loop().run_in_executor(None, os.fdatasync, self._handle.fileno())

    async def flush_to_disk(self) -> None:
        if self._handle.closed:
            return
        self._handle.flush()
        if self._writeback is not None:
            await self._writeback
        await asyncio.to_thread(os.fsync, self._handle.fileno())
        self._handle.close()

    def close(self) -> None:
        if self._writeback is not None and not self._writeback.done():
            self._writeback.add_done_callback(lambda _: self._handle.close())
        else:
            self._handle.close()


class ScanStore(Protocol):
    def begin(self) -> PendingScan: ...

    async def commit(self, pending: PendingScan, key: str) -> None: ...

    def discard(self, pending: PendingScan) -> None: ...

    def local_path(self, key: str) -> Path: ...

    def remove(self, key: str) -> None: ...


class DirectoryScanStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._partial = self.root / ".partial"

    def begin(self) -> PendingScan:
        self._partial.mkdir(parents=True, exist_ok=True)
        path = self._partial / f"{uuid.uuid4().hex}.part"
        return PendingScan(path, open(path, "xb"))

    async def commit(self, pending: PendingScan, key: str) -> None:
        await pending.flush_to_disk()
        target = self.local_path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            raise FileExistsError(f"a scan is already stored under {key}")
        os.rename(pending.path, target)
        await asyncio.to_thread(_fsync_directory, target.parent)

    def discard(self, pending: PendingScan) -> None:
        pending.close()
        pending.path.unlink(missing_ok=True)

    def local_path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"scan key {key!r} points outside the store")
        return path

    def remove(self, key: str) -> None:
        path = self.local_path(key)
        path.unlink(missing_ok=True)
        # Drop the now empty attempt and upload folders, never the user's folder.
        for folder in (path.parent, path.parent.parent):
            try:
                folder.rmdir()
            except OSError:
                break


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Where incoming scans are kept between the gateway and the launchers.

One small interface, one implementation now: a directory shared by the
gateway and the launchers (a compose volume on one host, NFS across hosts).
An S3-compatible store can implement the same interface later.

Each attempt's file has a key of its own, so a new upload never writes over a
file that a pipeline may be reading. A file is written under a temporary
name, flushed to disk, then renamed to its key.

A file being written is locked (flock) until it is committed or discarded, so
that a gateway sweeping the `.partial` files a crash left behind never removes
one that a live gateway, sharing the directory, is still writing.
"""

import asyncio
import fcntl
import logging
import os
import time
import uuid
from pathlib import Path
from typing import BinaryIO, Protocol

log = logging.getLogger(__name__)


def scan_key(username: str, upload_id: int, attempt: int, file_name: str) -> str:
    return f"{username}/{upload_id}/attempt-{attempt}/{file_name}"


# While a scan streams in, its bytes are pushed to disk in the background every
# this many bytes, so that the final fsync has little left to wait for.
WRITEBACK_EVERY_BYTES = 64 * 1024**2

# A partial file younger than this is never swept, locked or not: it covers the moment between its creation
# and its lock, and a file system whose locks do not reach other hosts (a partial file is then swept only
# once no byte was written to it for this long: such an upload fails at its commit, loudly).
PARTIAL_GRACE_SECONDS = 60.0


class PendingScan:
    """A scan being received: bytes go to a temporary file until commit or discard."""

    def __init__(self, path: Path, handle: BinaryIO, lock_fd: int | None = None) -> None:
        self.path = path
        self.size = 0
        self._handle = handle
        self._lock_fd = lock_fd
        self._unsynced = 0
        self._writeback: asyncio.Future | None = None

    def write(self, chunk: bytes) -> None:
        self._raise_writeback_error()
        self._handle.write(chunk)
        self.size += len(chunk)
        self._unsynced += len(chunk)
        if self._unsynced >= WRITEBACK_EVERY_BYTES and (self._writeback is None or self._writeback.done()):
            self._unsynced = 0
            self._handle.flush()
            self._writeback = asyncio.get_running_loop().run_in_executor(None, os.fdatasync, self._handle.fileno())

    def _raise_writeback_error(self) -> None:
        """A background flush that failed (a disk error, a full disk) fails the upload, never silently."""
        if self._writeback is not None and self._writeback.done() and self._writeback.exception() is not None:
            raise self._writeback.exception()

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

    def release_lock(self) -> None:
        """Say the file is no longer being written (after its commit or discard)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


class ScanStore(Protocol):
    def begin(self) -> PendingScan: ...

    async def commit(self, pending: PendingScan, key: str) -> None: ...

    def discard(self, pending: PendingScan) -> None: ...

    def local_path(self, key: str) -> Path: ...

    def remove(self, key: str) -> None: ...

    def is_missing(self, key: str) -> bool: ...

    def sweep_partial(self, grace_seconds: float = PARTIAL_GRACE_SECONDS) -> int: ...


class DirectoryScanStore:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._partial = self.root / ".partial"

    def begin(self) -> PendingScan:
        self._partial.mkdir(parents=True, exist_ok=True)
        path = self._partial / f"{uuid.uuid4().hex}.part"
        handle = open(path, "xb")
        lock_fd = os.open(path, os.O_RDONLY)
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return PendingScan(path, handle, lock_fd)

    async def commit(self, pending: PendingScan, key: str) -> None:
        """Put the file at its key. The caller's database has just claimed that key for this file alone
        (an attempt number no committed record holds), so a file already there can only be the leftover
        of a crash between a commit and its record's: it is replaced, never a reason to refuse."""
        await pending.flush_to_disk()
        target = self.local_path(key)
        await asyncio.to_thread(_make_durable_directories, self.root, target.parent)
        if target.exists():
            log.warning("a file left by a crash is replaced", extra={"scan_key": key})
        os.replace(pending.path, target)
        pending.release_lock()
        await asyncio.to_thread(_fsync_directory, target.parent)

    def discard(self, pending: PendingScan) -> None:
        pending.close()
        pending.path.unlink(missing_ok=True)
        pending.release_lock()

    def sweep_partial(self, grace_seconds: float = PARTIAL_GRACE_SECONDS) -> int:
        """Remove the partial files no live upload is writing (left by a crash); returns how many."""
        removed = 0
        for path in self._partial.glob("*.part"):
            if _unlocked_and_older_than(path, grace_seconds):
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def local_path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"scan key {key!r} points outside the store")
        return path

    def is_missing(self, key: str) -> bool:
        """Whether the file is certainly not there: a store that cannot be read (unreachable) does not say so."""
        try:
            os.stat(self.local_path(key))
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return False

    def remove(self, key: str) -> None:
        path = self.local_path(key)
        path.unlink(missing_ok=True)
        # Drop the now empty attempt and upload folders, never the user's folder.
        for folder in (path.parent, path.parent.parent):
            try:
                folder.rmdir()
            except OSError:
                break


def _unlocked_and_older_than(path: Path, grace_seconds: float) -> bool:
    try:
        if time.time() - path.stat().st_mtime < grace_seconds:
            return False
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


def _make_durable_directories(root: Path, folder: Path) -> None:
    """Make `folder` and the missing folders above it, each synced into its parent, so that after a crash
    the path to a committed scan exists, not only the scan (a new folder's entry is in its parent)."""
    missing = []
    while not folder.exists() and folder != root:
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        new.mkdir(exist_ok=True)
        _fsync_directory(new.parent)


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

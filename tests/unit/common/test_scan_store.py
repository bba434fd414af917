"""The directory where scans wait between the gateway and the launchers (services.common.scan_store)."""

import os
import time
from pathlib import Path

import pytest

from services.common import scan_store
from services.common.scan_store import DirectoryScanStore, scan_key
from tests.integration.helpers import eventually

KEY = "demo/7/attempt-1/MTL0001_300001_V1.tgz"


def part_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.part"))


async def stored(store: DirectoryScanStore, key: str, data: bytes) -> None:
    pending = store.begin()
    pending.write(data)
    await store.commit(pending, key)


def test_a_scan_key_is_user_upload_attempt_and_file_name():
    assert scan_key("demo", 7, 2, "MTL0001_300001_V1.tgz") == "demo/7/attempt-2/MTL0001_300001_V1.tgz"


async def test_a_committed_scan_has_all_its_bytes_at_its_key_and_no_partial_file_is_left(tmp_path):
    store = DirectoryScanStore(tmp_path)

    pending = store.begin()
    pending.write(b"\x1f\x8b first ")
    pending.write(b"second")
    assert pending.size == len(b"\x1f\x8b first second")
    await store.commit(pending, KEY)

    assert store.local_path(KEY) == tmp_path.resolve() / "demo" / "7" / "attempt-1" / "MTL0001_300001_V1.tgz"
    assert store.local_path(KEY).read_bytes() == b"\x1f\x8b first second"
    assert store.local_path(KEY).is_file()
    assert part_files(tmp_path) == []


async def test_bytes_being_received_are_kept_in_a_partial_file_not_at_the_key(tmp_path):
    store = DirectoryScanStore(tmp_path)

    pending = store.begin()
    pending.write(b"abc")
    await pending.flush_to_disk()

    assert pending.path.suffix == ".part"
    assert pending.path.read_bytes() == b"abc"
    assert not store.local_path(KEY).is_file()
    store.discard(pending)


async def test_a_file_left_at_the_key_by_a_crash_before_its_record_is_replaced_by_the_next_commit(tmp_path):
    # The database claims a key for one file only, so a file already there was left by a crash between the
    # rename and the record's commit: it must never block the attempt that claims the key again.
    store = DirectoryScanStore(tmp_path)
    await stored(store, KEY, b"left by a crash")

    pending = store.begin()
    pending.write(b"the new attempt")
    await store.commit(pending, KEY)

    assert store.local_path(KEY).read_bytes() == b"the new attempt"
    assert part_files(tmp_path) == []


def aged(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


async def test_the_sweep_removes_partial_files_left_by_a_crash_and_keeps_fresh_ones(tmp_path):
    store = DirectoryScanStore(tmp_path)
    partial = tmp_path / ".partial"
    partial.mkdir()
    crashed = partial / "crashed.part"
    crashed.write_bytes(b"x")
    aged(crashed, 3600)
    just_created = partial / "just-created.part"
    just_created.write_bytes(b"y")

    assert store.sweep_partial(grace_seconds=60) == 1

    assert not crashed.exists()
    assert just_created.exists()


async def test_the_sweep_never_removes_a_partial_file_an_upload_is_still_writing_however_old(tmp_path):
    # Another gateway sharing the directory may be receiving a file whose client paused for long.
    store = DirectoryScanStore(tmp_path)
    pending = store.begin()
    pending.write(b"half an upload")
    await pending.flush_to_disk()
    aged(pending.path, 3600)

    assert DirectoryScanStore(tmp_path).sweep_partial(grace_seconds=60) == 0

    assert pending.path.exists()
    await store.commit(pending, KEY)
    assert store.local_path(KEY).read_bytes() == b"half an upload"


async def test_a_discarded_scan_leaves_no_file_behind(tmp_path):
    store = DirectoryScanStore(tmp_path)

    pending = store.begin()
    pending.write(b"half an upload")
    store.discard(pending)

    assert not pending.path.exists()
    assert part_files(tmp_path) == []
    assert not store.local_path(KEY).is_file()


async def test_discarding_a_scan_already_flushed_to_disk_removes_it_too(tmp_path):
    store = DirectoryScanStore(tmp_path)

    pending = store.begin()
    pending.write(b"all of it")
    await pending.flush_to_disk()
    store.discard(pending)

    assert part_files(tmp_path) == []


@pytest.mark.parametrize("key", ["../x", "demo/../../x", "/etc/passwd"])
def test_a_key_that_points_outside_the_store_is_refused(tmp_path, key):
    store = DirectoryScanStore(tmp_path / "store")

    with pytest.raises(ValueError) as caught:
        store.local_path(key)

    assert str(caught.value) == f"scan key {key!r} points outside the store"


def test_a_key_with_dots_that_stays_inside_the_store_is_accepted(tmp_path):
    store = DirectoryScanStore(tmp_path)

    assert store.local_path("demo/7/../8/x.tgz") == tmp_path.resolve() / "demo" / "8" / "x.tgz"


async def test_committing_to_a_key_outside_the_store_is_refused_and_writes_nothing_there(tmp_path):
    store = DirectoryScanStore(tmp_path / "store")

    pending = store.begin()
    pending.write(b"data")
    with pytest.raises(ValueError):
        await store.commit(pending, "../escaped.tgz")

    assert not (tmp_path / "escaped.tgz").exists()
    store.discard(pending)


async def test_removing_a_scan_deletes_it_and_its_empty_attempt_and_upload_folders_but_not_the_users(tmp_path):
    store = DirectoryScanStore(tmp_path)
    await stored(store, KEY, b"data")

    store.remove(KEY)

    assert not store.local_path(KEY).is_file()
    assert not (tmp_path / "demo" / "7").exists()
    assert (tmp_path / "demo").is_dir()


async def test_removing_one_attempt_keeps_the_upload_folder_holding_another_attempt(tmp_path):
    store = DirectoryScanStore(tmp_path)
    other = scan_key("demo", 7, 2, "MTL0001_300001_V1.tgz")
    await stored(store, KEY, b"one")
    await stored(store, other, b"two")

    store.remove(KEY)

    assert not (tmp_path / "demo" / "7" / "attempt-1").exists()
    assert store.local_path(other).read_bytes() == b"two"


async def test_removing_a_scan_keeps_its_attempt_folder_when_something_else_is_in_it(tmp_path):
    store = DirectoryScanStore(tmp_path)
    await stored(store, KEY, b"one")
    neighbour = tmp_path / "demo" / "7" / "attempt-1" / "notes.txt"
    neighbour.write_text("keep me")

    store.remove(KEY)

    assert not store.local_path(KEY).is_file()
    assert neighbour.read_text() == "keep me"


def test_removing_a_scan_that_is_not_there_does_nothing(tmp_path):
    store = DirectoryScanStore(tmp_path)
    (tmp_path / "demo").mkdir()

    store.remove(KEY)

    assert (tmp_path / "demo").is_dir()


def test_a_key_is_not_reported_as_existing_before_its_scan_is_committed(tmp_path):
    store = DirectoryScanStore(tmp_path)

    assert not store.local_path(KEY).is_file()


async def test_the_folders_made_for_a_scan_are_synced_into_their_parents_and_the_scan_into_its_folder(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(scan_store, "_fsync_directory", synced.append)
    store = DirectoryScanStore(tmp_path)
    pending = store.begin()
    pending.write(b"data")

    await store.commit(pending, scan_key("demo", 7, 1, "scan.tgz"))

    root = tmp_path.resolve()
    assert synced == [root, root / "demo", root / "demo" / "7", root / "demo" / "7" / "attempt-1"]


async def test_a_background_flush_that_failed_fails_the_upload_instead_of_being_forgotten(tmp_path, monkeypatch):
    monkeypatch.setattr(scan_store, "WRITEBACK_EVERY_BYTES", 4)

    def disk_error(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(scan_store.os, "fdatasync", disk_error)
    store = DirectoryScanStore(tmp_path)
    pending = store.begin()
    pending.write(b"12345")  # starts a background flush, which fails

    async def a_write_fails() -> OSError | None:
        try:
            pending.write(b"more")  # taken while the flush still runs
        except OSError as error:
            return error
        return None

    error = await eventually(a_write_fails, 5, "a write failing after the failed flush")
    assert "Input/output error" in str(error)
    store.discard(pending)

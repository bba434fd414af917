"""The exit codes runs' guards keep (services/launcher/process_guard.py), so that a run whose pipeline
ended on its own is recorded as finished, once, with its real exit code, even when its launcher died
between the pipeline's end and the record: the reaper that takes the stale run back reads the code here
instead of running the pipeline again (services/launcher/slots.py).

One file per run, `run-<run_id>.exit`, in the `.run-exits` folder of the incoming scan store: the one
place every launcher replica reads (a compose volume on one host, an NFS export or a ReadWriteMany
volume across hosts). A file stays from the guard's exit until the run's end is recorded, then the next
sweep of any launcher removes it.
"""

import asyncio
import logging
import re
from pathlib import Path

import asyncpg

from services.launcher import runs

log = logging.getLogger(__name__)

FOLDER = ".run-exits"
_RUN_FILE = re.compile(r"run-(\d+)\.exit")  # the file, or the guard's temporary one: run-<id>.exit.<pid>.tmp


class RunExits:
    def __init__(self, incoming: Path) -> None:
        self.folder = incoming / FOLDER

    def prepare(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, run_id: int) -> Path:
        """Where the guard of this run keeps its exit code."""
        return self.folder / f"run-{run_id}.exit"

    async def read(self, run_id: int) -> int | None:
        """The exit code the run's pipeline ended with on its own; None when it did not (yet), or when its
        launcher stopped it."""
        try:
            return int(await asyncio.to_thread(self.path(run_id).read_text))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            log.warning("a run's exit code could not be read", extra={"run_id": run_id, "error": repr(error)})
            return None

    async def sweep(self, conn: asyncpg.Connection | asyncpg.Pool) -> int:
        """Remove the files of runs whose end is recorded; returns how many."""
        files = await asyncio.to_thread(self._files_by_run)
        if not files:
            return 0
        ended = await runs.ended_among(conn, list(files))
        removed = [path for run_id in ended for path in files[run_id]]
        await asyncio.to_thread(_remove, removed)
        return len(removed)

    def _files_by_run(self) -> dict[int, list[Path]]:
        files: dict[int, list[Path]] = {}
        try:
            entries = list(self.folder.iterdir())
        except FileNotFoundError:
            return files
        for path in entries:
            if match := _RUN_FILE.match(path.name):
                files.setdefault(int(match[1]), []).append(path)
        return files


def _remove(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)

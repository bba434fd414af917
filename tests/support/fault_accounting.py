"""What a fault test counts: the uploads it sent while it did harm, which of them were accepted (a 202,
with its upload id), and what became of each accepted one once the harm is over.

    stream = UploadStream(client, archives, interval=0.5)
    async with stream:                       # the uploads flow while the block does harm
        ...
    report = await account(client, stream, pool=pool, ledger=ledger, lines_per_run=5)
    report.assert_clean("SIGKILL of each service in turn")

An upload whose POST got no answer or another status (the gateway was killed, the database was away)
was not accepted, and is not counted. Every accepted upload must end, and end well: none lost (each
known and final, Success or Failure), each a Success (the archives the tests send are all valid, so no
Failure has a cause of its own), no run of an attempt overlapping another run of the same attempt (in
the logstore's run records, in the launcher's, and in the ledger of the numbered pipeline, which sees
two live processes of one attempt whatever the records say), and no log line of the numbered pipeline
saved twice, out of order, or missing from the run that succeeded.
"""

import asyncio
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiohttp
import asyncpg

from services.common.api_models import MAX_LOG_PAGE_LINES
from tests.support.api import FINISHED, UploaderClient

NUMBERED_LINE = re.compile(r"line (\d+) of (\d+) from pid (\d+) in group (\d+)")
POST_SECONDS = 30  # an upload not answered by then counts as not accepted


@dataclass
class Sent:
    archive: Path
    sent_at: float  # seconds since the stream started
    status: int | None = None  # None: no answer
    upload_id: int | None = None
    answer: dict | None = None  # the 202's body
    error: str | None = None


class UploadStream:
    """Uploads sent at a steady pace, each in its own task (so a slow one does not hold back the next),
    while the test does harm. Leaving the block waits until every one has been answered or has failed."""

    def __init__(self, client: UploaderClient, archives: list[Path], interval: float) -> None:
        self.client = client
        self.archives = archives
        self.interval = interval
        self.sent: list[Sent] = []
        self.started = time.monotonic()
        self._task: asyncio.Task | None = None

    @property
    def accepted(self) -> dict[int, Path]:
        return {s.upload_id: s.archive for s in self.sent if s.upload_id is not None}

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    async def __aenter__(self) -> "UploadStream":
        self.started = time.monotonic()
        self._task = asyncio.create_task(self._send_all())
        return self

    async def __aexit__(self, exc_type, *_exc) -> None:
        if exc_type is not None:
            self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=exc_type is not None)

    async def wait_accepted(self, count: int, timeout: float = 30) -> None:
        """Until `count` uploads were accepted: they are flowing."""
        async with asyncio.timeout(timeout):
            while len(self.accepted) < count:
                await asyncio.sleep(0.05)

    async def _send_all(self) -> None:
        async with asyncio.TaskGroup() as group:
            for archive in self.archives:
                group.create_task(self._send(archive))
                await asyncio.sleep(self.interval)

    async def _send(self, archive: Path) -> None:
        sent = Sent(archive, self.elapsed())
        self.sent.append(sent)
        name = archive.name.split(".")[0]
        pscid, candid, visit = name.split("_")[:3]
        try:
            async with asyncio.timeout(POST_SECONDS):
                answer = await self.client.upload(archive, candid=candid, pscid=pscid, visit_label=visit)
            sent.status = answer.status
            if answer.status == 202:
                sent.answer = await answer.json()
                sent.upload_id = sent.answer["upload_id"]
            else:
                sent.error = (await answer.text())[:200]
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            sent.error = repr(error)[:200]


@dataclass
class UploadFate:
    upload_id: int
    archive: str
    summary: dict | None = None  # the last GET /api/v1/uploads/{id} answer
    runs: list[dict] = field(default_factory=list)  # the logstore's run records
    launcher_runs: list[dict] = field(default_factory=list)  # the launcher's
    lines: list[dict] = field(default_factory=list)  # its whole log: detailed, every attempt
    problems: list[str] = field(default_factory=list)

    @property
    def progress(self) -> str | None:
        return None if self.summary is None else self.summary["progress"]

    def numbered_lines(self) -> dict[int, list[int]]:
        """The numbered pipeline's lines, by the pid that printed them, in the log's order."""
        by_pid: dict[int, list[int]] = defaultdict(list)
        for line in self.lines:
            if match := NUMBERED_LINE.fullmatch(line["message"]):
                by_pid[int(match[3])].append(int(match[1]))
        return dict(by_pid)

    def pids_in_group(self, group: int) -> list[int]:
        """The numbered pipelines of a run: the group is the run's pid (the process its launcher started)."""
        return sorted({int(match[3]) for line in self.lines
                       if (match := NUMBERED_LINE.fullmatch(line["message"])) and int(match[4]) == group})

    def describe(self) -> str:
        runs = "; ".join(f"run {r['run_id']} (attempt {r['attempt']}, pid {r['pid']}, {r['launcher']}): "
                         f"{r['outcome']} {_when(r['started_at'])}..{_when(r['ended_at'])}" for r in self.runs)
        errors = [line["message"] for line in self.lines if line["is_error"]][-3:]
        summary = "unknown" if self.summary is None else (
            f"{self.progress}, attempt {self.summary['attempt']}, exit code {self.summary['exit_code']}")
        return (f"upload {self.upload_id} ({self.archive}): {summary}\n      runs: {runs or 'none'}"
                + (f"\n      last errors: {errors}" if errors else ""))


@dataclass
class FaultReport:
    sent: list[Sent]
    fates: list[UploadFate]
    notes: list[str] = field(default_factory=list)  # what the test did, for the failure message
    other_problems: list[str] = field(default_factory=list)  # found by the test itself

    @property
    def accepted(self) -> int:
        return len(self.fates)

    def problems(self) -> list[str]:
        return self.other_problems + [f"upload {fate.upload_id}: {problem}" for fate in self.fates
                                      for problem in fate.problems]

    def runs_count(self) -> Counter:
        return Counter(run["outcome"] for fate in self.fates for run in fate.runs)

    def counts(self) -> str:
        progress = Counter(fate.progress or "unknown" for fate in self.fates)
        refused = Counter(str(s.status) if s.status is not None else "no answer" for s in self.sent
                          if s.upload_id is None)
        not_accepted = f", not accepted: {dict(refused)}" if refused else ""
        return (f"sent {len(self.sent)} uploads, {self.accepted} accepted (202){not_accepted}; "
                f"of the accepted: {dict(progress)}; their runs: {dict(self.runs_count())}")

    def assert_clean(self, what: str, min_accepted: int = 1) -> None:
        problems = self.problems()
        if self.accepted < min_accepted:
            problems.insert(0, f"only {self.accepted} uploads were accepted, fewer than {min_accepted}: "
                               "the test proves little")
        print(f"{what}: {self.counts()}", *(f"  note: {note}" for note in self.notes), sep="\n")  # shown with -s
        if not problems:
            return
        details = [fate.describe() for fate in self.fates if fate.problems][:15]
        raise AssertionError(
            f"{what}: {self.counts()}\n"
            + "".join(f"  note: {note}\n" for note in self.notes)
            + f"{len(problems)} problem(s):\n" + "".join(f"  - {p}\n" for p in problems[:40])
            + "the uploads concerned:\n" + "".join(f"    {d}\n" for d in details)
        )


async def account(client: UploaderClient, stream: UploadStream, *, pool: asyncpg.Pool | None, ledger: Path | None,
                  lines_per_run: int, timeout: float = 90, notes: list[str] | None = None) -> FaultReport:
    """Wait until every accepted upload is final (or the time is up), then check each one."""
    fates = [UploadFate(upload_id, archive.name) for upload_id, archive in sorted(stream.accepted.items())]
    await _wait_until_final(client, fates, timeout)
    launcher_runs = await _launcher_runs(pool, [fate.upload_id for fate in fates]) if pool is not None else {}
    for fate in fates:
        if fate.summary is None or fate.progress not in FINISHED:
            fate.problems.append("lost: never final" if fate.summary is None
                                 else f"not final {timeout:.0f} s after the faults: {fate.progress}")
            continue
        fate.runs = (await _get_json(client, f"/api/v1/uploads/{fate.upload_id}/runs"))["runs"]
        fate.lines = await _whole_log(client, fate.upload_id)
        fate.launcher_runs = launcher_runs.get(fate.upload_id, [])
        _check(fate, ledger, lines_per_run)
    return FaultReport(stream.sent, fates, notes or [])


def _check(fate: UploadFate, ledger: Path | None, lines_per_run: int) -> None:
    if fate.progress != "Success":
        fate.problems.append(f"ended in {fate.progress} (exit code {fate.summary['exit_code']}), "
                             "though its archive is valid")
    for source, runs, start, end in (("logstore", fate.runs, "started_at", "ended_at"),
                                     ("launcher", fate.launcher_runs, "started_at", "finished_at")):
        for problem in overlapping_runs(runs, start, end):
            fate.problems.append(f"{source} runs {problem}")
    if ledger is not None:
        for overlap in sorted(ledger.glob(f"{fate.upload_id}-*.overlap-*")):
            fate.problems.append(f"two runs of one attempt alive at once: {overlap.read_text().strip()}")
    by_pid = fate.numbered_lines()
    for pid, numbers in by_pid.items():
        twice = sorted(number for number, count in Counter(numbers).items() if count > 1)
        if twice:
            fate.problems.append(f"lines {twice} of pid {pid} saved more than once")
        elif numbers != list(range(1, len(numbers) + 1)):
            fate.problems.append(f"lines of pid {pid} out of order or with a gap: {numbers}")
    succeeded = [run for run in fate.runs if run["outcome"] == "succeeded"]
    if fate.progress == "Success":
        if len(succeeded) != 1:
            fate.problems.append(f"{len(succeeded)} runs succeeded, not 1")
        else:
            group = succeeded[0]["pid"]
            pids = fate.pids_in_group(group)
            numbers = [by_pid[pid] for pid in pids]
            if numbers != [list(range(1, lines_per_run + 1))]:
                fate.problems.append(f"the run that succeeded (pid {group}) has numbered lines {numbers} "
                                     f"(pids {pids}), not one pipeline's 1..{lines_per_run}")


def overlapping_runs(runs: list[dict], start: str, end: str) -> list[str]:
    """Runs of one attempt whose times overlap, or that never ended, as readable problems."""
    problems = []
    by_attempt: dict[int, list[dict]] = defaultdict(list)
    for run in runs:
        by_attempt[run["attempt"]].append(run)
    for attempt, group in by_attempt.items():
        for run in group:
            if run[start] is not None and run[end] is None:
                problems.append(f"{run['run_id']} (attempt {attempt}) never ended")
        timed = sorted((_time(run[start]), _time(run[end]), run["run_id"]) for run in group
                       if run[start] is not None and run[end] is not None)
        for (_, first_end, first), (second_start, _, second) in zip(timed, timed[1:]):
            if second_start < first_end:
                problems.append(f"{first} and {second} of attempt {attempt} overlap: {second} started "
                                f"{(first_end - second_start).total_seconds():.2f} s before {first} ended")
    return problems


async def _wait_until_final(client: UploaderClient, fates: list[UploadFate], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(fates)
    while pending and time.monotonic() < deadline:
        for fate in list(pending):
            try:
                async with asyncio.timeout(5):
                    answer = await client.get(f"/api/v1/uploads/{fate.upload_id}")
            except (aiohttp.ClientError, TimeoutError):
                continue
            if answer.status == 200:
                fate.summary = await answer.json()
                if fate.progress in FINISHED:
                    pending.remove(fate)
        if pending:
            await asyncio.sleep(0.3)


async def _get_json(client: UploaderClient, path: str, **params) -> dict:
    answer = await client.get(path, **params)
    assert answer.status == 200, f"GET {path}: {answer.status} {await answer.text()}"
    return await answer.json()


async def _whole_log(client: UploaderClient, upload_id: int) -> list[dict]:
    lines, after = [], 0
    while True:
        page = await _get_json(client, f"/api/v1/uploads/{upload_id}/log", mode="detailed", include_inactive="true",
                               limit=MAX_LOG_PAGE_LINES, after=after)
        lines += page["lines"]
        after = page["last_line_id"]
        if not page["more"]:
            return lines


async def _launcher_runs(pool: asyncpg.Pool, upload_ids: list[int]) -> dict[int, list[dict]]:
    rows = await pool.fetch(
        """SELECT run_id, upload_id, attempt, state, owner AS launcher, pid, outcome, started_at, finished_at
           FROM launcher.runs WHERE upload_id = any($1::bigint[]) ORDER BY run_id""", upload_ids)
    by_upload: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        by_upload[row["upload_id"]].append(dict(row))
    return by_upload


def _time(value: str | datetime) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _when(value: str | None) -> str:
    return "?" if value is None else _time(value).strftime("%H:%M:%S.%f")[:-3]

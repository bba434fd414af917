"""How fast LORIS-MRI's log becomes the upload's log in LORIS site mode: rows per second from the first row a
pipeline commits into LORIS's notification_spool until the last one can be read in the upload's log (through the
log API, in pages, through the gateway), beside a plain SELECT of the same rows from MariaDB in the same run.

    .venv/bin/python bench/loris_spool_throughput.py [--rows 100000]
    make bench-loris            # this and bench/preflight_latency.py --loris

The four services run as processes (bench/stack.py) in LORIS site mode on a LORIS database of the bench's own
(bench/loris_site.py: the demo project, the bench's user a LORIS superuser), connecting as the uploader's own
MariaDB user. One upload of the demo archive is launched at once; its pipeline, bench/spool_writer.py, writes
--rows rows for the upload's UploadID in multi-row INSERTs, as fast as MariaDB takes them, while the launcher turns
them into log lines (services/launcher/loris_spool.py). Every row must be read once, in order, with its flags
and origin, and the upload must end in Success; the bench exits 1 otherwise. The baseline selects the same rows,
the same columns, as the uploader's MariaDB user with the launcher's driver. Goal: 20,000 rows per second.
"""

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import aiomysql

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.log_throughput import HEADERS, upload  # noqa: E402
from bench.loris_site import BenchLorisSite  # noqa: E402
from bench.spool_writer import ORIGIN, is_error, is_verbose, message  # noqa: E402
from bench.stack import BenchStack, cpu_snapshot  # noqa: E402
from services.common.loris_url import LorisDatabaseAddress  # noqa: E402
from services.gateway.admin.demo_archive import write_demo_archive  # noqa: E402

GOAL_ROWS_PER_SECOND = 20_000
PAGE_LINES = 10_000
FINAL_PROGRESS = ("Success", "Failure")
SECONDS_TO_WAIT = 300
OTHER_LOAD_WARNING = 0.10  # of the machine's CPU, beyond which the bench says its figure was disturbed
SERVERS = {"mariadb": "mariadbd", "postgres": "postgres", "rabbitmq": "beam.smp"}  # group: its processes' name
# "runs": the pipeline (spool_writer.py, once ended); "client": this bench, reading the log; "other": the rest of
# the machine.
CPU_GROUPS = ("launcher", "logstore", "gateway", "validator", "runs", "client", "mariadb", "postgres", "rabbitmq",
              "other")
# What the launcher reads of each row (services/launcher/loris_spool.py).
SELECT_ROWS = """SELECT NotificationID, TimeSpooled, Message, Error, Verbose, Origin FROM notification_spool
                 WHERE ProcessID = %s AND Active = 'Y' ORDER BY NotificationID"""


class WrongAnswer(Exception):
    pass


def check_line(line: dict, number: int, rows: int) -> None:
    expected = (message(number, rows), is_error(number), is_verbose(number))
    if (line["message"], line["is_error"], line["is_verbose"]) != expected:
        raise WrongAnswer(f"line {number} of the spool: expected {expected}, got {line}")


async def read_every_row(http: aiohttp.ClientSession, gateway: str, upload_id: int, rows: int) -> tuple[float, int]:
    """Reads the detailed log in pages until the spool's last row is there, checking each row (once, in order);
    returns when the last row was read (time.time()) and the pages read."""
    after, seen, pages = 0, 0, 0
    deadline = time.monotonic() + SECONDS_TO_WAIT
    while seen < rows:
        params = {"mode": "detailed", "after": after, "limit": PAGE_LINES}
        async with http.get(f"{gateway}/api/v1/uploads/{upload_id}/log", params=params, headers=HEADERS) as answer:
            page = await answer.json()
        pages += 1
        for line in page["lines"]:
            if line["origin"] == ORIGIN:
                seen += 1
                check_line(line, seen, rows)
        after = page["last_line_id"]
        if page["progress"] in FINAL_PROGRESS and not page["more"] and seen < rows:
            raise WrongAnswer(f"the upload ended {page['progress']} with {seen:,} of {rows:,} rows in its log")
        if time.monotonic() > deadline:
            raise WrongAnswer(f"{seen:,} of {rows:,} rows in the log after {SECONDS_TO_WAIT} s")
        if not page["more"]:
            await asyncio.sleep(0.02)
    return time.time(), pages


async def wait_for_success(http: aiohttp.ClientSession, gateway: str, upload_id: int) -> None:
    deadline = time.monotonic() + SECONDS_TO_WAIT
    while True:
        async with http.get(f"{gateway}/api/v1/uploads/{upload_id}", headers=HEADERS) as answer:
            progress = (await answer.json())["progress"]
        if progress == "Success":
            return
        if progress in FINAL_PROGRESS or time.monotonic() > deadline:
            raise WrongAnswer(f"the upload is {progress}, not Success")
        await asyncio.sleep(0.1)


async def loris_upload_id(http: aiohttp.ClientSession, gateway: str, upload_id: int) -> int:
    async with http.get(f"{gateway}/api/v1/uploads/{upload_id}", headers=HEADERS) as answer:
        return (await answer.json())["loris_upload_id"]


async def select_rate(url: str, process_id: int, rows: int) -> float:
    """Rows per second of one plain SELECT of the upload's rows, as the uploader's MariaDB user, with aiomysql."""
    address = LorisDatabaseAddress.from_url(url)
    conn = await aiomysql.connect(host=address.host, port=address.port, user=address.user,
                                  password=address.password, db=address.database, charset="utf8mb4", autocommit=True)
    try:
        async with conn.cursor() as cursor:
            started = time.perf_counter()
            await cursor.execute(SELECT_ROWS, (process_id,))
            selected = await cursor.fetchall()
            seconds = time.perf_counter() - started
    finally:
        conn.close()
    if len(selected) != rows:
        raise WrongAnswer(f"the SELECT found {len(selected):,} rows, not {rows:,}")
    return rows / seconds


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="uploader-bench-loris-spool-") as work:
        times_file = Path(work) / "spool-writer-times"
        command = (f"{{python}} {REPO_ROOT / 'bench/spool_writer.py'} --upload-id {{loris_upload_id}} "
                   f"--rows {args.rows} --times-file {times_file}")
        stack = BenchStack("loris_spool", ("logstore", "validator", "launcher", "gateway"),
                           env={"UPLOADER_PIPELINE_COMMAND": command, "UPLOADER_AUTO_LAUNCH": "true",
                                "UPLOADER_PIPELINE_ENVIRONMENT": "LORIS_DATABASE_URL"})
        site = BenchLorisSite("loris_spool", Path(work))
        try:
            pool = await stack.prepare()
            await pool.close()
            await site.create()
            await site.add_account("bench", ["superuser"])
            # The pipeline writes as LORIS-MRI would, with a user that may write notification_spool and mri_upload.
            stack.extra_env.update({"UPLOADER_LORIS_DATABASE_URL": site.uploader_url,
                                    "LORIS_DATABASE_URL": site.admin_url})
            stack.start()
            archive = write_demo_archive(Path(work))
            async with aiohttp.ClientSession() as http:
                cpu_before, wall_before = cpu_snapshot(stack.stack.processes, SERVERS), time.time()
                upload_id = await upload(http, stack.gateway_url, archive)
                last_read, pages = await read_every_row(http, stack.gateway_url, upload_id, args.rows)
                await wait_for_success(http, stack.gateway_url, upload_id)
                cpu_after, wall = cpu_snapshot(stack.stack.processes, SERVERS), time.time() - wall_before
                process_id = await loris_upload_id(http, stack.gateway_url, upload_id)
            first_written, last_written = map(float, times_file.read_text().split())
            baseline = await select_rate(site.uploader_url, process_id, args.rows)
        finally:
            await stack.close()
            await site.drop()
    report(args.rows, last_read - first_written, last_written - first_written, pages, baseline)
    report_cpu(args.rows, {group: cpu_after[group] - cpu_before[group] for group in CPU_GROUPS}, wall)


def report(rows: int, seconds: float, writing_seconds: float, pages: int, select_rows_per_second: float) -> None:
    rate = rows / seconds
    print(f"LORIS site mode: a pipeline writing {rows:,} rows into notification_spool, from its first row committed "
          f"to the last one readable in the upload's log (log API, {pages} pages; every row checked):")
    print(f"  spool to log          {seconds:7.2f} s   {rate:10,.0f} rows/s")
    writing_rate = rows / writing_seconds if writing_seconds > 0 else float("inf")
    print(f"  the pipeline writing  {writing_seconds:7.2f} s   {writing_rate:10,.0f} rows/s"
          "   (its INSERTs, first to last)")
    print(f"  MariaDB SELECT        {rows / select_rows_per_second:7.2f} s   {select_rows_per_second:10,.0f} rows/s"
          "   (the same rows, one SELECT as the uploader's user, same run)")
    print(f"  spool to log / SELECT    {rate / select_rows_per_second:.2f}")
    verdict = "met" if rate >= GOAL_ROWS_PER_SECOND else "NOT met"
    print(f"  goal >= {GOAL_ROWS_PER_SECOND:,} rows/s: {verdict}")


def report_cpu(rows: int, cpu: dict[str, float], wall: float) -> None:
    """CPU per 1,000 rows from the upload until its Success (the upload, the run and the log reads included)."""
    print("  CPU ms per 1,000 rows, from the upload to its Success (runs: the pipeline; client: this bench reading "
          "the log):")
    print("   " + " ".join(f"{group}={cpu[group] / rows * 1_000_000:.0f}" for group in CPU_GROUPS))
    other = cpu["other"] / ((os.cpu_count() or 1) * wall)
    if other > OTHER_LOAD_WARNING:
        print(f"  other processes took {other:.0%} of the machine meanwhile: the figure is lower than on a quiet "
              "machine")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except WrongAnswer as wrong:
        sys.exit(f"wrong answer: {wrong}")

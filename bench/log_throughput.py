"""How fast a pipeline's output becomes a readable log: lines per second from
the upload's 202 until every line of a pipeline printing 100,000 lines can be
read through the log API (in pages, through the gateway), beside PostgreSQL's
COPY of the same number of log rows, measured in the same run.

    .venv/bin/python bench/log_throughput.py [--lines 100000]

The four services run as processes (bench/stack.py) with
tests/support/noisy_pipeline.py as the pipeline. Goal: 20,000 lines per second.
"""

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.stack import TOKEN, BenchStack  # noqa: E402
from services.gateway.admin.demo_archive import write_demo_archive  # noqa: E402
from services.logstore.record import LOG_LINE_COLUMNS  # noqa: E402
from services.validator.demo_registry import load_demo_registry  # noqa: E402

GOAL_LINES_PER_SECOND = 20_000
PAGE_LINES = 10_000
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


async def copy_rate(pool, lines: int) -> float:
    """Rows per second of one COPY of `lines` log rows into a table like logstore.log_lines."""
    now = datetime.now(UTC)
    records = [(1, 1, uuid.uuid4(), now, "pipeline", f"line {n:06d}", False, True, "stdout") for n in range(1, lines + 1)]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("CREATE TEMP TABLE copy_baseline (LIKE logstore.log_lines INCLUDING ALL) ON COMMIT DROP")
        started = time.perf_counter()
        await conn.copy_records_to_table("copy_baseline", columns=LOG_LINE_COLUMNS, records=records)
        return lines / (time.perf_counter() - started)


async def upload(http: aiohttp.ClientSession, gateway: str, archive: Path) -> int:
    form = aiohttp.FormData()
    for name, value in (("candid", "300001"), ("pscid", "MTL0001"), ("visit_label", "V1")):
        form.add_field(name, value)
    form.add_field("file", archive.read_bytes(), filename=archive.name, content_type="application/gzip")
    async with http.post(f"{gateway}/api/v1/uploads", data=form, headers=HEADERS) as answer:
        assert answer.status == 202, await answer.text()
        return (await answer.json())["upload_id"]


async def read_until_every_line(http: aiohttp.ClientSession, gateway: str, upload_id: int, lines: int) -> int:
    """Read the detailed log in pages until the pipeline's last numbered line is there; returns the pages read."""
    after, seen, pages = 0, 0, 0
    while seen < lines:
        params = {"mode": "detailed", "after": after, "limit": PAGE_LINES}
        async with http.get(f"{gateway}/api/v1/uploads/{upload_id}/log", params=params, headers=HEADERS) as answer:
            page = await answer.json()
        pages += 1
        seen += sum(1 for line in page["lines"] if line["message"].startswith("line "))
        after = page["last_line_id"]
        if not page["more"]:
            await asyncio.sleep(0.02)
    return pages


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    command = f"{sys.executable} {REPO_ROOT / 'tests/support/noisy_pipeline.py'} --clean --lines {args.lines}"
    stack = BenchStack("log", ("logstore", "validator", "launcher", "gateway"),
                       env={"UPLOADER_PIPELINE_COMMAND": command})
    with tempfile.TemporaryDirectory(prefix="uploader-bench-log-") as work:
        archive = write_demo_archive(Path(work))
        try:
            pool = await stack.prepare()
            async with pool.acquire() as conn:
                await load_demo_registry(conn)
            copy_rows_per_second = await copy_rate(pool, args.lines)
            stack.start()
            async with aiohttp.ClientSession() as http:
                upload_id = await upload(http, stack.gateway_url, archive)
                started = time.perf_counter()
                pages = await read_until_every_line(http, stack.gateway_url, upload_id, args.lines)
                seconds = time.perf_counter() - started
            batches = await pool.fetchval(
                "SELECT count(DISTINCT event_id) FROM logstore.log_lines WHERE upload_id = $1 AND origin = 'pipeline'",
                upload_id)
            await pool.close()
        finally:
            await stack.close()
    report(args.lines, seconds, pages, batches, copy_rows_per_second)


def report(lines: int, seconds: float, pages: int, batches: int, copy_rows_per_second: float) -> None:
    rate = lines / seconds
    print(f"A pipeline printing {lines:,} lines, from the upload's 202 to every line readable through the log API:")
    print(f"  end to end            {seconds:7.2f} s   {rate:10,.0f} lines/s   ({batches} events, {pages} pages read)")
    print(f"  PostgreSQL COPY       {lines / copy_rows_per_second:7.2f} s   {copy_rows_per_second:10,.0f} rows/s"
          "   (the same rows, one COPY, same run)")
    print(f"  end to end / COPY        {rate / copy_rows_per_second:.2f}")
    verdict = "met" if rate >= GOAL_LINES_PER_SECOND else "NOT met"
    print(f"  goal >= {GOAL_LINES_PER_SECOND:,} lines/s: {verdict}")


if __name__ == "__main__":
    asyncio.run(main())

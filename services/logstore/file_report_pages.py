"""An upload's per-file report, streamed in pages of rows (services/common/file_report.py says what it is).

Pages are read by id, each with a connection of its own for a moment, so that a slow download holds no
connection of the pool."""

import json

import asyncpg
from aiohttp import web

from services.common.file_report import no_report, report_headers

PAGE_ROWS = 1000

_PAGE_SQL = """SELECT outcome_id, file, series, outcome, reason FROM logstore.file_outcomes
               WHERE upload_id = $1 AND run_id = $2 AND outcome_id > $3 ORDER BY outcome_id LIMIT $4"""


async def latest_reporting_run(conn: asyncpg.Connection, upload_id: int, attempt: int) -> int | None:
    return await conn.fetchval(
        "SELECT max(run_id) FROM logstore.file_outcomes WHERE upload_id = $1 AND attempt = $2", upload_id, attempt)


async def stream_report(request: web.Request, pool: asyncpg.Pool, upload_id: int,
                        run_id: int | None) -> web.StreamResponse:
    if run_id is None:
        return no_report(upload_id)
    response = web.StreamResponse(headers=report_headers(upload_id))
    await response.prepare(request)
    after = 0
    while True:
        rows = await pool.fetch(_PAGE_SQL, upload_id, run_id, after, PAGE_ROWS)
        if not rows:
            break
        await response.write("".join(_json_line(row) for row in rows).encode())
        after = rows[-1]["outcome_id"]
    await response.write_eof()
    return response


def _json_line(row: asyncpg.Record) -> str:
    return json.dumps({"file": row["file"], "series": row["series"], "outcome": row["outcome"],
                       "reason": row["reason"]}, ensure_ascii=False) + "\n"

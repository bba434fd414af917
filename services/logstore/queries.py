"""The read queries: browse uploads, one upload, its log, its runs; each
limited to what the asking user's scope may see."""

from pathlib import Path

import asyncpg

from services.common.api_models import LogLine, LogQuery, RunRecord, UploadListQuery, UploadPage, UploadSummary
from services.common.messages import UserScope
from services.common.scope import visible_to_sql

_SUMMARY_COLUMNS = """upload_id, progress, candid, pscid, visit_label, site, is_phantom, file_name, scan_key,
                      uploaded_at, uploaded_by, tarchive, minc_inserted, minc_created, size_bytes, attempt,
                      exit_code, updated_at"""
_FILTERS = ("candid", "pscid", "visit_label", "site", "is_phantom", "progress")


async def list_uploads(conn: asyncpg.Connection, query: UploadListQuery, scope: UserScope,
                       incoming: Path) -> UploadPage:
    where, args = _conditions(query, scope)
    direction = "DESC" if query.sort.startswith("-") else "ASC"
    total = await conn.fetchval(f"SELECT count(*) FROM logstore.uploads WHERE {where}", *args)
    rows = await conn.fetch(
        f"""SELECT {_SUMMARY_COLUMNS} FROM logstore.uploads WHERE {where}
            ORDER BY uploaded_at {direction} NULLS LAST, upload_id {direction}
            LIMIT {query.page_size} OFFSET {(query.page - 1) * query.page_size}""",
        *args,
    )
    items = [_summary(row, incoming) for row in rows]
    return UploadPage(total=total, page=query.page, page_size=query.page_size, items=items)


def _conditions(query: UploadListQuery, scope: UserScope) -> tuple[str, list]:
    visible, args = visible_to_sql(scope, 1)
    conditions = [visible]
    for column in _FILTERS:
        value = getattr(query, column)
        if value is not None:
            args.append(value if isinstance(value, bool) else str(value))
            conditions.append(f"{column} = ${len(args)}")
    return " AND ".join(conditions), args


async def get_upload(conn: asyncpg.Connection, upload_id: int, scope: UserScope, incoming: Path) -> UploadSummary | None:
    visible, args = visible_to_sql(scope, 2)
    row = await conn.fetchrow(
        f"SELECT {_SUMMARY_COLUMNS} FROM logstore.uploads WHERE upload_id = $1 AND {visible}", upload_id, *args
    )
    return _summary(row, incoming) if row else None


def _summary(row: asyncpg.Record, incoming: Path) -> UploadSummary:
    values = dict(row)
    key = values.pop("scan_key")
    return UploadSummary(**values, upload_location=str(incoming / key) if key else None)


async def get_log_lines(conn: asyncpg.Connection, upload_id: int, current_attempt: int, query: LogQuery) -> list[LogLine]:
    rows = await conn.fetch(
        """SELECT line_id, attempt, logged_at, origin, message, is_error, is_verbose, attempt = $5 AS active
           FROM logstore.log_lines
           WHERE upload_id = $1 AND line_id > $2
             AND ($3 OR NOT is_verbose)
             AND ($4 OR attempt = $5)
           ORDER BY line_id""",
        upload_id,
        query.after,
        query.mode == "detailed",
        query.include_inactive,
        current_attempt,
    )
    return [LogLine(**row) for row in rows]


async def get_runs(conn: asyncpg.Connection, upload_id: int) -> list[RunRecord]:
    rows = await conn.fetch(
        """SELECT run_id, attempt, command, launcher, pid, started_at, ended_at, exit_code, outcome, stderr_tail
           FROM logstore.runs WHERE upload_id = $1 ORDER BY run_id""",
        upload_id,
    )
    return [RunRecord(**row) for row in rows]

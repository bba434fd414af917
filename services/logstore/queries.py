"""The read queries: browse uploads, one upload, its log."""

import asyncpg

from services.common.api_models import LogLine, LogQuery, UploadListQuery, UploadPage, UploadSummary

_SUMMARY_COLUMNS = """upload_id, file_name, candid, pscid, visit_label, is_phantom, uploaded_by, size_bytes,
                      attempt, progress, exit_code, uploaded_at, updated_at"""


async def list_uploads(conn: asyncpg.Connection, query: UploadListQuery) -> UploadPage:
    where, args = _filters(query)
    total = await conn.fetchval(f"SELECT count(*) FROM logstore.uploads WHERE {where}", *args)
    rows = await conn.fetch(
        f"""SELECT {_SUMMARY_COLUMNS} FROM logstore.uploads WHERE {where}
            ORDER BY upload_id DESC LIMIT {query.page_size} OFFSET {(query.page - 1) * query.page_size}""",
        *args,
    )
    items = [UploadSummary(**row) for row in rows]
    return UploadPage(total=total, page=query.page, page_size=query.page_size, items=items)


def _filters(query: UploadListQuery) -> tuple[str, list]:
    conditions, args = ["true"], []
    for column in ("candid", "pscid", "visit_label", "progress"):
        value = getattr(query, column)
        if value is not None:
            args.append(str(value))
            conditions.append(f"{column} = ${len(args)}")
    return " AND ".join(conditions), args


async def get_upload(conn: asyncpg.Connection, upload_id: int) -> UploadSummary | None:
    row = await conn.fetchrow(f"SELECT {_SUMMARY_COLUMNS} FROM logstore.uploads WHERE upload_id = $1", upload_id)
    return UploadSummary(**row) if row else None


async def get_log_lines(conn: asyncpg.Connection, upload_id: int, query: LogQuery) -> list[LogLine]:
    rows = await conn.fetch(
        """SELECT l.line_id, l.attempt, l.logged_at, l.origin, l.message, l.is_error, l.is_verbose,
                  l.attempt = u.attempt AS active
           FROM logstore.log_lines l JOIN logstore.uploads u USING (upload_id)
           WHERE l.upload_id = $1 AND l.line_id > $2
             AND ($3 OR NOT l.is_verbose)
             AND ($4 OR l.attempt = u.attempt)
           ORDER BY l.line_id""",
        upload_id,
        query.after,
        query.mode == "detailed",
        query.include_inactive,
    )
    return [LogLine(**row) for row in rows]

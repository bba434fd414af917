"""The read queries: browse uploads, one upload, its log, its runs; each
limited to what the asking user's scope may see."""

from dataclasses import dataclass
from pathlib import Path

import asyncpg
from services.common.api_models import LogLine, LogQuery, RunRecord, UploadListQuery, UploadSummary
from services.common.messages import UserScope
from services.common.scope import visible_to_sql

# scan_key is turned into the upload's location (see _Location) in the place the answer shows it.
_SUMMARY_COLUMNS = """upload_id, progress, candid, pscid, visit_label, site, is_phantom, file_name, scan_key AS upload_location,
                      uploaded_at, uploaded_by, tarchive, tarchive_info, minc_inserted, minc_created, size_bytes,
                      attempt, exit_code, failure, step, percent, summary, loris_record, updated_at,
                      loris_upload_id"""
_FILTERS = ("candid", "pscid", "visit_label", "site", "is_phantom", "progress")
# logstore.upload_counts (migration 0006) keeps how many uploads have each combination of the
# columns that decide who sees an upload (site, is_phantom, uploaded_by) and of these filters.
_COUNTED_FILTERS = ("site", "is_phantom", "progress")


async def list_uploads(conn: asyncpg.Connection, query: UploadListQuery, scope: UserScope,
                       incoming: Path) -> dict:
    """A page of uploads, shaped as UploadPage: plain values, serialised without a validation per row, since a Browse
    page polled by many users is the logstore's most frequent answer."""
    count_sql, page_sql, args = browse_statements(query, scope)
    total = await conn.fetchval(count_sql, *args)
    # A page past the last upload is empty: not asking spares the scan of every row of a filter that
    # matches none the user may see (an own-sites user filtering on another site).
    rows = await conn.fetch(page_sql, *args) if total > (query.page - 1) * query.page_size else []
    location = _Location(incoming)
    items = [_summary_values(row, location) for row in rows]
    return {"total": total, "page": query.page, "page_size": query.page_size, "items": items}


def browse_statements(query: UploadListQuery, scope: UserScope) -> tuple[str, str, list]:
    """What list_uploads asks: the statement of the total, that of the page, and their arguments."""
    where, args = _conditions(query, scope)
    direction = "DESC" if query.sort.startswith("-") else "ASC"
    # The counts are not kept by project: a user whose projects limit what they see has the rows counted.
    if scope.own_projects is None and all(
            getattr(query, column) is None for column in _FILTERS if column not in _COUNTED_FILTERS):
        # The same condition on the same columns, over a few hundred counts instead of every upload.
        count_sql = f"SELECT coalesce(sum(uploads), 0)::bigint FROM logstore.upload_counts WHERE {where}"
    else:
        count_sql = f"SELECT count(*) FROM logstore.uploads WHERE {where}"
    page_sql = f"""SELECT {_SUMMARY_COLUMNS} FROM logstore.uploads WHERE {where}
            ORDER BY uploaded_at {direction} NULLS LAST, upload_id {direction}
            LIMIT {query.page_size} OFFSET {(query.page - 1) * query.page_size}"""
    return count_sql, page_sql, args


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
    upload_sql, args = upload_statement(scope)
    row = await conn.fetchrow(upload_sql, upload_id, *args)
    return _summary(row, incoming) if row else None


def upload_statement(scope: UserScope) -> tuple[str, list]:
    """What get_upload asks, and its arguments after the upload id ($1)."""
    visible, args = visible_to_sql(scope, 2)
    return f"SELECT {_SUMMARY_COLUMNS} FROM logstore.uploads WHERE upload_id = $1 AND {visible}", args


def _summary(row: asyncpg.Record, incoming: Path) -> UploadSummary:
    return UploadSummary.model_validate(_summary_values(row, _Location(incoming)))


def _summary_values(row: asyncpg.Record, location: "_Location") -> dict:
    values = dict(row)
    values["upload_location"] = location.of(values["upload_location"])
    return values


class _Location:
    """Where a scan key's file is: str(incoming / key), without building a Path per row for the
    plain keys the scan store makes (user/upload_id/attempt-N/name), which join as strings do."""

    def __init__(self, incoming: Path) -> None:
        self.incoming = incoming
        self.prefix = str(incoming).rstrip("/") + "/"

    def of(self, key: str | None) -> str | None:
        if not key:
            return None
        if key.startswith("/") or key.endswith("/") or "//" in key or "/./" in f"/{key}/":
            return str(self.incoming / key)
        return self.prefix + key


async def get_log_lines(conn: asyncpg.Connection, upload_id: int, current_attempt: int,
                        query: LogQuery) -> tuple[list[dict], bool]:
    """A page of lines, shaped as LogLine (plain values, like list_uploads's), and whether more follow."""
    rows = await conn.fetch(LOG_LINES_SQL, *log_lines_arguments(upload_id, current_attempt, query))
    more = len(rows) > query.limit
    return [dict(row) for row in rows[:query.limit]], more


LOG_LINES_SQL = """SELECT line_id, attempt, run, logged_at, origin, message, is_error, is_verbose, stream,
                  attempt = $5 AS active
           FROM logstore.log_lines
           WHERE upload_id = $1 AND line_id > $2
             AND ($3 OR NOT is_verbose)
             AND ($4 OR attempt = $5)
           ORDER BY line_id LIMIT $6"""


def log_lines_arguments(upload_id: int, current_attempt: int, query: LogQuery) -> tuple:
    """LOG_LINES_SQL's arguments: one line past the page, to know whether more follow."""
    return upload_id, query.after, query.mode == "detailed", query.include_inactive, current_attempt, query.limit + 1


async def get_runs(conn: asyncpg.Connection, upload_id: int) -> list[RunRecord]:
    rows = await conn.fetch(
        """SELECT r.run_id, r.attempt, r.launch, r.run, l.process_id, r.command, r.launcher, r.pid, r.started_at,
                  r.ended_at, r.exit_code, r.outcome, r.stderr_tail
           FROM logstore.runs r LEFT JOIN logstore.launches l USING (upload_id, attempt, launch)
           WHERE r.upload_id = $1 ORDER BY r.run_id""",
        upload_id,
    )
    return [RunRecord(**row) for row in rows]


_LINE_FIELDS = tuple(LogLine.model_fields)


@dataclass(frozen=True)
class LogNews:
    """What a live log stream shows next: the upload's progress and attempt, and the new lines."""

    progress: str
    attempt: int
    lines: list[dict]


async def get_log_news(conn: asyncpg.Connection, upload_id: int, scope: UserScope, *, after: int,
                       attempt: int | None, detailed: bool, limit: int) -> LogNews | None:
    """The upload's progress and current attempt, and that attempt's first `limit` lines after `after` (after
    none when it is no longer `attempt`: a new attempt is read from its start), shaped as LogLine. One
    statement, so that the progress and the lines are of one moment. None when the user may not see it."""
    visible, args = visible_to_sql(scope, 5)
    rows = await conn.fetch(
        f"""WITH upload AS (SELECT upload_id, progress, attempt FROM logstore.uploads
                            WHERE upload_id = $1 AND {visible})
            SELECT upload.progress, upload.attempt AS current_attempt, l.line_id, l.attempt, l.run, l.logged_at,
                   l.origin, l.message, l.is_error, l.is_verbose, l.stream, true AS active
            FROM upload LEFT JOIN logstore.log_lines l
              ON l.upload_id = upload.upload_id AND l.attempt = upload.attempt
             AND l.line_id > CASE WHEN $3::integer IS NULL OR upload.attempt = $3 THEN $2::bigint ELSE 0 END
             AND ($4 OR NOT l.is_verbose)
            ORDER BY l.line_id LIMIT {int(limit)}""",
        upload_id, after, attempt, detailed, *args,
    )
    if not rows:
        return None
    lines = [{name: row[name] for name in _LINE_FIELDS} for row in rows if row["line_id"] is not None]
    return LogNews(progress=rows[0]["progress"], attempt=rows[0]["current_attempt"], lines=lines)

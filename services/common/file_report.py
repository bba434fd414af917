"""The per-file report of an upload (GET /api/v1/uploads/{id}/report): JSON lines, one per file of the
archive, {"file", "series", "outcome", "reason"}, from the current attempt's latest run that reported any."""

from aiohttp import web

from services.common.http_errors import error_response

CONTENT_TYPE = "application/x-ndjson"


def report_headers(upload_id: int) -> dict[str, str]:
    return {"Content-Type": f"{CONTENT_TYPE}; charset=utf-8",
            "Content-Disposition": f'attachment; filename="upload-{upload_id}-report.jsonl"',
            "Cache-Control": "no-cache"}


def no_report(upload_id: int) -> web.Response:
    return error_response(404, "no_report", f"Upload {upload_id} has no per-file report: its pipeline has not "
                                            "reported any file for the current attempt (yet).", "upload_id")

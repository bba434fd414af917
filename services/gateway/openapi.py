"""The OpenAPI 3 document, generated from the pydantic models that validate
requests and shape responses, so that it cannot drift from the code.

Every /api/v1 route the gateway serves is here, with each status it may
answer, and both ways to sign a request in: a bearer token, or a browser's
session cookie (with its CSRF token). The upload's 202 links its upload_id to the operations on one upload,
so that a client (or a stateful API fuzzer) can follow them."""

from functools import cache

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from services.common.api_models import (
    MAX_ID,
    CancelAccepted,
    ErrorBody,
    LaunchAccepted,
    LogPage,
    LogQuery,
    LogStreamQuery,
    RunList,
    UploadAccepted,
    UploadCheck,
    UploadCheckAnswer,
    UploadForm,
    UploadListQuery,
    UploadPage,
    UploadSummary,
)
from services.common.file_report import CONTENT_TYPE
from services.common.messages import FileOutcome
from services.common.scope import ADMIN
from services.gateway.auth.session_models import SessionInfo, SignIn
from services.gateway.auth.web_sessions import COOKIE_NAME, CSRF_HEADER
from services.gateway.status.status_models import DeadLettersReplayed, SystemStatus
from services.gateway.tus_routes import ATTEMPT_HEADER, TUS_PATH, UPLOAD_ID_HEADER
from services.gateway.uploads import idempotency

REF = "#/components/schemas/{model}"
_ERRORS = {
    400: "a parameter or the body breaks a rule",
    401: "no valid API token or session cookie",
    403: f"the user has no imaging uploader permission, or the session cookie came without the {CSRF_HEADER} header",
    404: "no such upload (or not one the user may see)",
    409: "the upload's state does not allow it",
    413: "the file is larger than the maximum upload size",
    415: "the file is not a .tgz, .tar.gz or .zip archive",
    410: "the bytes of this tus upload are no longer on the server: create it again",
    412: "the Tus-Resumable header is not 1.0.0 (tus): the answer's Tus-Version names the version served",
    422: "the Idempotency-Key was used for an upload with other fields (idempotency_key_reused)",
    423: "another request is writing to this tus upload (tus_upload_busy)",
    429: "too many failed sign-ins of this username, or from this address: try again after Retry-After seconds",
    460: "the body's checksum is not the Upload-Checksum sent: the chunk was dropped (tus checksum extension)",
    503: "a service behind the gateway cannot be reached",
}
_SESSION_COOKIE = {
    "type": "apiKey", "in": "cookie", "name": COOKIE_NAME,
    "description": f"set by POST /api/v1/session; a request signed in by it with a method other than GET, HEAD "
                   f"and OPTIONS must send the session's csrf_token as the {CSRF_HEADER} header",
}
_UPLOAD_ID = {
    "name": "upload_id", "in": "path", "required": True,
    "description": "the upload's id, as the upload's 202 answer gives it (400 when it is not in 1..2^63-1)",
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}
_IDEMPOTENCY_KEY = {
    "name": idempotency.HEADER, "in": "header", "required": False,
    "description": f"a key of the client's choosing (a UUID, say) that names this upload: {idempotency.KEY_RULE}, "
                   "kept for the user for UPLOADER_IDEMPOTENCY_KEY_HOURS. Sent again with the same fields, after the first was "
                   "accepted, it gets the first's 202 again (with Idempotent-Replayed: true), without the file "
                   "being read or stored; with other fields, 422 idempotency_key_reused. A request refused by a "
                   "rule keeps no key. Without it, a second upload of a name is a 409 as usual",
    "schema": {"type": "string", "minLength": 1, "maxLength": idempotency.MAX_KEY_LENGTH, "pattern": "^[ -~]+$"},
}
_ONE_UPLOAD = {
    "getUpload": "/api/v1/uploads/{upload_id}",
    "getUploadLog": "/api/v1/uploads/{upload_id}/log",
    "getUploadRuns": "/api/v1/uploads/{upload_id}/runs",
    "getUploadReport": "/api/v1/uploads/{upload_id}/report",
    "launchUpload": "/api/v1/uploads/{upload_id}/launch",
    "cancelUpload": "/api/v1/uploads/{upload_id}/cancel",
}
_RESPONSE_MODELS = [CancelAccepted, DeadLettersReplayed, ErrorBody, FileOutcome, LaunchAccepted, LogPage, RunList,
                    SessionInfo, SystemStatus, UploadAccepted, UploadCheckAnswer, UploadPage, UploadSummary]
_REQUEST_MODELS = [SignIn, UploadCheck, UploadForm]
_EXAMPLE_ARCHIVE_NAME = "phantom_example.zip"


@cache
def openapi_document() -> dict:
    _, schemas = models_json_schema(
        [(m, "serialization") for m in _RESPONSE_MODELS] + [(m, "validation") for m in _REQUEST_MODELS],
        ref_template=REF,
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "LORIS imaging uploader",
            "version": "1",
            "description": "Upload scan archives, browse them, and follow each through the insertion pipeline. "
                           'Every error answers {"error": {first failure}, "errors": [every failure]}.',
        },
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}, "sessionCookie": _SESSION_COOKIE},
        },
        "security": [{"bearerAuth": []}, {"sessionCookie": []}],
        "paths": {
            "/api/v1/uploads": {
                "post": _operation(
                    "uploadScan", "Upload a scan archive", UploadAccepted, 202, [400, 401, 403, 409, 413, 415, 422],
                    parameters=[_IDEMPOTENCY_KEY], request_body=_upload_body(),
                    links=_links_to_one_upload("$response.body#/upload_id"),
                    headers={"Location": {"description": "the URL of the upload", "schema": {"type": "string"}},
                             idempotency.REPLAYED_HEADER: {
                                 "description": "present when this is the answer given earlier to the same "
                                                f"{idempotency.HEADER}: nothing new was stored",
                                 "schema": {"type": "string", "enum": ["true"]}}},
                    error_descriptions={400: "a field or the file name breaks a rule, the form is malformed, or "
                                             f"the {idempotency.HEADER} header is malformed "
                                             "(invalid_idempotency_key)"}),
                "get": _operation("listUploads", "Browse uploads", UploadPage, 200, [400, 401, 403, 503],
                                  parameters=_query_parameters(UploadListQuery)),
            },
            "/api/v1/uploads/check": {
                "post": _operation(
                    "checkUpload", "Would this upload be accepted? (asked before sending the file)",
                    UploadCheckAnswer, 200, [400, 401, 403, 413, 503], request_body=_json_body(UploadCheck),
                    error_descriptions={413: "the request body is too large",
                                        503: "the validator does not answer; the rules cannot be checked now"}),
            },
            "/api/v1/uploads/{upload_id}": {
                "get": _operation("getUpload", "One upload and its progress", UploadSummary, 200,
                                  [400, 401, 403, 404, 503], parameters=[_UPLOAD_ID]),
            },
            "/api/v1/uploads/{upload_id}/log": {
                "get": _operation("getUploadLog", "The upload's log", LogPage, 200, [400, 401, 403, 404, 503],
                                  parameters=[_UPLOAD_ID, *_query_parameters(LogQuery)]),
            },
            "/api/v1/uploads/{upload_id}/log/events": {"get": _log_events_operation()},
            "/api/v1/uploads/{upload_id}/runs": {
                "get": _operation("getUploadRuns", "The upload's pipeline runs", RunList, 200,
                                  [400, 401, 403, 404, 503], parameters=[_UPLOAD_ID]),
            },
            "/api/v1/uploads/{upload_id}/report": {"get": _report_operation()},
            "/api/v1/uploads/{upload_id}/launch": {
                "post": _operation("launchUpload", "Launch the pipeline for a validated upload", LaunchAccepted,
                                   202, [400, 401, 403, 404, 409], parameters=[_UPLOAD_ID],
                                   links=_links_to_one_upload("$response.body#/upload_id", but="launchUpload")),
            },
            "/api/v1/uploads/{upload_id}/cancel": {
                "post": _operation("cancelUpload", "Stop the upload's pipeline run, queued or running",
                                   CancelAccepted, 202, [400, 401, 403, 404, 409], parameters=[_UPLOAD_ID],
                                   links=_links_to_one_upload("$response.body#/upload_id", but="cancelUpload")),
            },
            **_tus_operations(),
            "/api/v1/session": _session_operations(),
            **_status_operations(),
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "getOpenapi",
                    "summary": "This document",
                    "responses": {
                        "200": {"description": "OpenAPI 3 document",
                                "content": {"application/json": {"schema": {"type": "object"}}}},
                        **_error_responses([401, 403], {}),
                    },
                },
            },
        },
    }


def _session_operations() -> dict:
    sign_in = _operation(
        "signIn", "Sign in: start a browser session", SessionInfo, 200, [400, 401, 413, 415, 429, 503],
        request_body=_json_body(SignIn),
        headers={"Set-Cookie": {"description": f"the session cookie, {COOKIE_NAME} (HttpOnly, SameSite=Lax, "
                                               "Secure over HTTPS)", "schema": {"type": "string"}}},
        error_descriptions={401: "incorrect username or password", 413: "the request body is too large",
                            415: "the body is not sent as application/json",
                            503: "the gateway is checking as many sign-ins as it may (sign_in_busy): try again "
                                 "after Retry-After seconds; or the database cannot be reached"})
    sign_out = {
        "operationId": "signOut",
        "summary": "Sign out: end the browser session that signs this request in, and clear its cookie",
        "responses": {"204": {"description": "signed out (also when no session signed the request in)"},
                      **_error_responses([403], {403: f"the session cookie came without the {CSRF_HEADER} header"})},
    }
    return {
        "post": {**sign_in, "security": []},
        "get": _operation("getSession", "The signed-in user, and the session's CSRF token", SessionInfo, 200, [401]),
        "delete": {**sign_out, "security": []},
    }


def _status_operations() -> dict:
    not_admin = {403: f"the user lacks the permission {ADMIN}, or the session cookie came without the "
                      f"{CSRF_HEADER} header"}
    return {
        "/api/v1/status": {
            "get": _operation("getStatus", "The operators' status: queues, dead letters, launchers alive, outboxes",
                              SystemStatus, 200, [401, 403], error_descriptions=not_admin),
        },
        "/api/v1/status/dead-letters/replay": {
            "post": _operation("replayDeadLetters", "Send each dead letter back to the queue it came from",
                               DeadLettersReplayed, 200, [401, 403, 503],
                               error_descriptions={**not_admin, 503: "the broker cannot be reached: the dead "
                                                                     "letters stay in their queue"}),
        },
    }


def _tus_operations() -> dict:
    """tus 1.0.0 (https://tus.io/protocols/resumable-upload): its answers carry no body but errors."""
    version = _header("Tus-Resumable", "the tus version: 1.0.0", {"type": "string", "enum": ["1.0.0"]})
    length = {"type": "integer", "minimum": 0, "maximum": MAX_ID}
    tus_id = {"name": "tus_id", "in": "path", "required": True, "description": "the id in the creation's Location",
              "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}}
    chunk = {"content": {"application/offset+octet-stream": {"schema": {"type": "string", "format": "binary"}}}}
    checksum = _header("Upload-Checksum", "`<sha1|md5|sha256> <base64 digest>` of this body: on a mismatch the "
                       "chunk is dropped (460)", {"type": "string"}, required=False)
    finished = {UPLOAD_ID_HEADER: {"description": "once the last byte arrived: the upload id the tus upload became "
                                                  "(as the 202 of POST /api/v1/uploads gives it)",
                                   "schema": {"type": "integer"}},
                ATTEMPT_HEADER: {"description": "once the last byte arrived: its attempt", "schema": {"type": "integer"}}}
    offset_header = {"Upload-Offset": {"schema": {"type": "integer"}}, "Upload-Expires": {"schema": {"type": "string"}}}
    return {
        TUS_PATH: {
            "options": {"operationId": "tusDiscovery", "summary": "tus discovery: version, extensions, maximum size",
                        "responses": {"204": {"description": "the tus headers", "headers": {
                            name: {"schema": {"type": "string"}} for name in (
                                "Tus-Version", "Tus-Extension", "Tus-Max-Size", "Tus-Checksum-Algorithm")}},
                            **_error_responses([401, 403], {})}},
            "post": {
                "operationId": "tusCreate",
                "summary": "Create a tus upload: the pre-flight, judged as POST /api/v1/uploads judges an upload "
                           "before reading its file (a refusal stores nothing); a body is its first chunk",
                "parameters": [version, _header("Upload-Length", "the file's size in bytes", length),
                               _header("Upload-Metadata", "comma-separated `key base64(value)`: filename (required), "
                                       "candid, pscid, visit_label, is_phantom, overwrite (true/false)",
                                       {"type": "string"}, required=False), checksum],
                "requestBody": {"required": False, **chunk},
                "responses": {"201": {"description": "created", "headers": {
                    "Location": {"description": "the upload's URL", "schema": {"type": "string"}},
                    **offset_header, **finished}},
                    **_error_responses([400, 401, 403, 409, 412, 413, 415, 460, 503], {})},
            },
        },
        TUS_PATH + "{tus_id}": {
            "head": {"operationId": "tusOffset", "summary": "The tus upload's offset (404 for an unknown, expired or "
                                                          "another user's upload)",
                     "parameters": [tus_id, version],
                     "responses": {"200": {"description": "the upload's state, no body", "headers": {
                         "Upload-Length": {"schema": {"type": "integer"}}, **offset_header, **finished}},
                         **{str(code): {"description": _ERRORS[code]} for code in (401, 403, 404, 412)}}},
            "patch": {"operationId": "tusWrite", "summary": "Append bytes at Upload-Offset; the last one makes the "
                                                          "upload an attempt, as a multipart upload",
                      "parameters": [tus_id, version, _header("Upload-Offset", "where these bytes go", length),
                                     checksum],
                      "requestBody": {"required": True, **chunk},
                      "responses": {"204": {"description": "written", "headers": {**offset_header, **finished}},
                                    **_error_responses([400, 401, 403, 404, 409, 410, 412, 413, 415, 423, 460, 503],
                                                       {409: "Upload-Offset is not the upload's offset, or a rule "
                                                             "refused the finished upload"})}},
            "delete": {"operationId": "tusTerminate", "summary": "End a tus upload and free its bytes at once",
                       "parameters": [tus_id, version],
                       "responses": {"204": {"description": "removed"},
                                     **_error_responses([401, 403, 404, 412, 423], {})}},
        },
    }


def _header(name: str, description: str, schema: dict, *, required: bool = True) -> dict:
    return {"name": name, "in": "header", "required": required, "description": description, "schema": schema}


def _operation(operation_id: str, summary: str, answer: type[BaseModel], status: int, errors: list[int], *,
               parameters: list | None = None, request_body: dict | None = None, links: dict | None = None,
               headers: dict | None = None, error_descriptions: dict[int, str] | None = None) -> dict:
    success = _json_response(answer.__name__, answer.__doc__ or summary)
    if headers:
        success["headers"] = headers
    if links:
        success["links"] = links
    responses = {str(status): success, **_error_responses(errors, error_descriptions or {})}
    operation = {"operationId": operation_id, "summary": summary, "responses": responses}
    if parameters:
        operation["parameters"] = parameters
    if request_body:
        operation["requestBody"] = request_body
    return operation


def _log_events_operation() -> dict:
    last_event_id = {"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"},
                     "description": "the id of the last line received (an EventSource sends it when it reconnects); "
                                    "when it is a line id it takes precedence over `after`"}
    stream = {"description": "server-sent events: `progress` {upload_id, progress, status, attempt} first and at "
                             "each change (a new attempt included: its lines then follow from its first); `line` "
                             "(id: the line_id) a LogLine of the current attempt, verbose ones only in detailed "
                             "mode; `end` {progress, status} once the upload finished and every line was sent, "
                             "then the stream closes. A comment every 15 s keeps it open. For an upload accepted "
                             "but not recorded yet: `retry: 1000`, a progress event, and the stream closes",
              "content": {"text/event-stream": {"schema": {"type": "string"}}}}
    return {"operationId": "streamUploadLog", "summary": "The upload's log, live (server-sent events)",
            "parameters": [_UPLOAD_ID, *_query_parameters(LogStreamQuery), last_event_id],
            "responses": {"200": stream, **_error_responses([400, 401, 403, 404, 503], {})}}


def _report_operation() -> dict:
    lines = {"description": "JSON lines, one FileOutcome per file of the archive, from the current attempt's latest "
                            "run that reported any, in the order the pipeline reported them (a download: "
                            "Content-Disposition names it upload-<id>-report.jsonl)",
             "content": {CONTENT_TYPE: {"schema": {"$ref": REF.format(model="FileOutcome")}}}}
    return {"operationId": "getUploadReport", "summary": "The upload's per-file report: what the pipeline did with "
                                                         "each file, and why",
            "parameters": [_UPLOAD_ID],
            "responses": {"200": lines, **_error_responses(
                [400, 401, 403, 404, 503],
                {404: "no such upload (or not one the user may see), or no report yet (no_report)"})}}


def _error_responses(errors: list[int], descriptions: dict[int, str]) -> dict:
    responses = {str(code): _json_response("ErrorBody", descriptions.get(code, _ERRORS[code])) for code in errors}
    if "401" in responses:
        responses["401"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    if "429" in responses:
        responses["429"]["headers"] = {"Retry-After": {"required": True, "description": "seconds to wait",
                                                       "schema": {"type": "integer", "minimum": 1}}}
    return responses


def _json_response(model_name: str, description: str) -> dict:
    return {"description": description.strip(), "content": {"application/json": {"schema": {"$ref": REF.format(model=model_name)}}}}


def _links_to_one_upload(upload_id: str, but: str | None = None) -> dict:
    return {
        operation_id: {"operationId": operation_id, "parameters": {"upload_id": upload_id},
                       "description": f"{path} of the upload this answer names"}
        for operation_id, path in _ONE_UPLOAD.items() if operation_id != but
    }


def _query_parameters(model: type[BaseModel]) -> list[dict]:
    schema = model.model_json_schema(ref_template=REF)
    return [
        {"name": name, "in": "query", "required": False, "schema": _as_sent(prop),
         "description": prop.get("description", "")}
        for name, prop in schema["properties"].items()
    ]


def _as_sent(prop: dict) -> dict:
    """A field as a query string or a form sends it: absent, or a value; never a JSON null."""
    prop = {key: value for key, value in prop.items() if not (key == "default" and value is None)}
    branches = [branch for branch in prop.pop("anyOf", []) if branch != {"type": "null"}]
    if len(branches) == 1:
        prop = {**branches[0], **prop}
    elif branches:
        prop["anyOf"] = branches
    return prop


def _json_body(model: type[BaseModel]) -> dict:
    return {"required": True, "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}}}


def _upload_body() -> dict:
    form = UploadForm.model_json_schema(ref_template=REF)
    properties = {name: _as_sent(prop) for name, prop in form["properties"].items()}
    properties["file"] = {"type": "string", "format": "binary",
                          "description": "the archive (.tgz, .tar.gz or .zip), the last part; its file name is "
                                         "the filename of the part's Content-Disposition"}
    schema = {"type": "object", "description": form.get("description", ""), "properties": properties,
              "required": ["file"], "additionalProperties": False}
    return {
        "required": True,
        "content": {"multipart/form-data": {
            "schema": schema,
            "encoding": {"file": {"headers": {"Content-Disposition": {
                "description": "names the archive: PSCID_CandID_VisitLabel with an optional _suffix "
                               "(any safe name for a phantom)",
                "schema": {"type": "string"},
                "example": f'form-data; name="file"; filename="{_EXAMPLE_ARCHIVE_NAME}"',
            }}}},
            "examples": {"phantom": {
                "summary": "a phantom scan, replacing an earlier upload of the same name while it may be replaced",
                "value": {"is_phantom": True, "overwrite": True, "file": "PK\x05\x06" + "\x00" * 18},
            }},
        }},
    }

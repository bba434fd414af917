"""The OpenAPI 3 document, generated from the pydantic models that validate
requests and shape responses, so that it cannot drift from the code."""

from functools import cache

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from services.common.api_models import (
    ErrorBody,
    LaunchAccepted,
    LogPage,
    LogQuery,
    UploadAccepted,
    UploadForm,
    UploadListQuery,
    UploadPage,
    UploadSummary,
)

REF = "#/components/schemas/{model}"
_ERRORS = {
    400: "a field or the file name breaks a rule",
    401: "no valid API token",
    403: "the user has no imaging uploader permission",
    404: "no such upload",
    409: "the upload's state does not allow it",
    413: "the file is larger than the maximum upload size",
    415: "the file is not a .tgz, .tar.gz or .zip archive",
    503: "a service behind the gateway cannot be reached",
}
_UPLOAD_ID = {"name": "upload_id", "in": "path", "required": True, "schema": {"type": "integer"}}


@cache
def openapi_document() -> dict:
    models = [ErrorBody, LaunchAccepted, LogPage, UploadAccepted, UploadForm, UploadPage, UploadSummary]
    _, schemas = models_json_schema([(m, "serialization") for m in models], ref_template=REF)
    return {
        "openapi": "3.1.0",
        "info": {"title": "LORIS imaging uploader", "version": "1"},
        "components": {
            "schemas": schemas["$defs"],
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearerAuth": []}],
        "paths": {
            "/api/v1/uploads": {
                "post": _operation("Upload a scan archive", UploadAccepted, 202, [400, 401, 403, 409, 413, 415],
                                   request_body=_upload_body()),
                "get": _operation("Browse uploads", UploadPage, 200, [400, 401, 403, 503],
                                  parameters=_query_parameters(UploadListQuery)),
            },
            "/api/v1/uploads/{upload_id}": {
                "get": _operation("One upload and its progress", UploadSummary, 200, [401, 403, 404, 503],
                                  parameters=[_UPLOAD_ID]),
            },
            "/api/v1/uploads/{upload_id}/log": {
                "get": _operation("The upload's log", LogPage, 200, [400, 401, 403, 404, 503],
                                  parameters=[_UPLOAD_ID, *_query_parameters(LogQuery)]),
            },
            "/api/v1/uploads/{upload_id}/launch": {
                "post": _operation("Launch the pipeline for a validated upload", LaunchAccepted, 202,
                                   [401, 403, 404, 409], parameters=[_UPLOAD_ID]),
            },
            "/api/v1/openapi.json": {
                "get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3 document"}}},
            },
        },
    }


def _operation(summary: str, answer: type[BaseModel], status: int, errors: list[int], *,
               parameters: list | None = None, request_body: dict | None = None) -> dict:
    responses = {str(status): _json_response(answer.__name__, answer.__doc__ or summary)}
    for code in errors:
        responses[str(code)] = _json_response("ErrorBody", _ERRORS[code])
    operation = {"summary": summary, "responses": responses}
    if parameters:
        operation["parameters"] = parameters
    if request_body:
        operation["requestBody"] = request_body
    return operation


def _json_response(model_name: str, description: str) -> dict:
    return {"description": description.strip(), "content": {"application/json": {"schema": {"$ref": REF.format(model=model_name)}}}}


def _query_parameters(model: type[BaseModel]) -> list[dict]:
    schema = model.model_json_schema(ref_template=REF)
    return [
        {"name": name, "in": "query", "required": False, "schema": prop, "description": prop.get("description", "")}
        for name, prop in schema["properties"].items()
    ]


def _upload_body() -> dict:
    form = UploadForm.model_json_schema(ref_template=REF)
    properties = dict(form["properties"])
    properties["file"] = {"type": "string", "format": "binary", "description": "the archive, after the fields"}
    schema = {"type": "object", "properties": properties, "required": ["file"]}
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}

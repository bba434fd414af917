"""The OpenAPI document the gateway serves (services.gateway.openapi)."""

import json

import pytest

from services.common.api_models import (
    ErrorBody,
    LaunchAccepted,
    LogPage,
    UploadAccepted,
    UploadForm,
    UploadListQuery,
    UploadPage,
    UploadSummary,
)
from services.gateway.openapi import openapi_document

REF_PREFIX = "#/components/schemas/"


def all_refs(node) -> list[str]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                found.append(value)
            else:
                found.extend(all_refs(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(all_refs(item))
    return found


@pytest.fixture(scope="module")
def document() -> dict:
    return openapi_document()


def test_the_document_is_openapi_3(document):
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "LORIS imaging uploader"


def test_the_document_is_plain_json(document):
    assert json.loads(json.dumps(document)) == document


def test_the_document_lists_every_upload_endpoint_with_its_methods(document):
    paths = document["paths"]

    assert set(paths["/api/v1/uploads"]) == {"get", "post"}
    assert set(paths["/api/v1/uploads/{upload_id}"]) == {"get"}
    assert set(paths["/api/v1/uploads/{upload_id}/log"]) == {"get"}
    assert set(paths["/api/v1/uploads/{upload_id}/launch"]) == {"post"}
    assert set(paths["/api/v1/openapi.json"]) == {"get"}


def test_every_reference_in_the_document_points_to_a_schema_it_defines(document):
    refs = all_refs(document)
    schemas = document["components"]["schemas"]

    assert refs, "the document has no $ref at all"
    assert [ref for ref in refs if not ref.startswith(REF_PREFIX)] == []
    assert sorted({ref[len(REF_PREFIX):] for ref in refs} - set(schemas)) == []


def test_every_schema_the_api_answers_with_is_defined(document):
    schemas = document["components"]["schemas"]

    for model in (ErrorBody, LaunchAccepted, LogPage, UploadAccepted, UploadPage, UploadSummary):
        assert model.__name__ in schemas


@pytest.mark.parametrize(
    ("path", "method", "status", "model"),
    [
        ("/api/v1/uploads", "post", "202", UploadAccepted),
        ("/api/v1/uploads", "get", "200", UploadPage),
        ("/api/v1/uploads/{upload_id}", "get", "200", UploadSummary),
        ("/api/v1/uploads/{upload_id}/log", "get", "200", LogPage),
        ("/api/v1/uploads/{upload_id}/launch", "post", "202", LaunchAccepted),
    ],
)
def test_each_operation_answers_with_its_model_and_its_errors_with_the_error_body(document, path, method, status, model):
    responses = document["paths"][path][method]["responses"]

    assert responses[status]["content"]["application/json"]["schema"] == {"$ref": REF_PREFIX + model.__name__}
    errors = {code: r for code, r in responses.items() if code != status}
    assert errors
    for response in errors.values():
        assert response["content"]["application/json"]["schema"] == {"$ref": REF_PREFIX + "ErrorBody"}
        assert response["description"]


def test_the_upload_answers_409_413_and_415_for_taken_names_large_files_and_wrong_types(document):
    responses = document["paths"]["/api/v1/uploads"]["post"]["responses"]

    assert set(responses) == {"202", "400", "401", "403", "409", "413", "415"}
    assert responses["415"]["description"] == "the file is not a .tgz, .tar.gz or .zip archive"


def test_the_upload_body_is_multipart_with_the_form_fields_and_a_binary_file(document):
    body = document["paths"]["/api/v1/uploads"]["post"]["requestBody"]

    assert body["required"] is True
    schema = body["content"]["multipart/form-data"]["schema"]
    assert list(schema["properties"]) == [*UploadForm.model_fields, "file"]
    assert schema["properties"]["file"]["type"] == "string"
    assert schema["properties"]["file"]["format"] == "binary"
    assert schema["required"] == ["file"]


def test_the_upload_form_fields_in_the_document_carry_the_models_rules(document):
    properties = document["paths"]["/api/v1/uploads"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]

    assert properties["candid"]["anyOf"][0]["maxLength"] == 255
    assert properties["is_phantom"]["default"] is False


@pytest.mark.parametrize("path", ["/api/v1/uploads/{upload_id}", "/api/v1/uploads/{upload_id}/log",
                                  "/api/v1/uploads/{upload_id}/launch"])
def test_the_upload_id_in_a_path_is_a_required_integer(document, path):
    operation = next(iter(document["paths"][path].values()))
    upload_id = [p for p in operation["parameters"] if p["name"] == "upload_id"]

    assert upload_id == [{"name": "upload_id", "in": "path", "required": True, "schema": {"type": "integer"}}]


def test_the_log_can_be_asked_in_summary_or_detailed_mode_and_after_a_line(document):
    parameters = {p["name"]: p for p in document["paths"]["/api/v1/uploads/{upload_id}/log"]["get"]["parameters"]}

    assert set(parameters) == {"upload_id", "mode", "after", "include_inactive"}
    assert parameters["mode"]["in"] == "query"
    assert parameters["mode"]["schema"]["enum"] == ["summary", "detailed"]
    assert parameters["mode"]["schema"]["default"] == "summary"
    assert parameters["after"]["in"] == "query"
    assert parameters["after"]["schema"]["type"] == "integer"
    assert parameters["after"]["schema"]["minimum"] == 0


def test_the_upload_list_query_parameters_are_the_fields_of_its_model(document):
    parameters = document["paths"]["/api/v1/uploads"]["get"]["parameters"]

    assert [p["name"] for p in parameters] == list(UploadListQuery.model_fields)
    assert all(p["in"] == "query" and p["required"] is False for p in parameters)


@pytest.mark.parametrize("model", [UploadSummary, UploadPage, LogPage, UploadAccepted, LaunchAccepted, ErrorBody])
def test_the_schemas_are_generated_from_the_models(document, model):
    schema = document["components"]["schemas"][model.__name__]

    assert set(schema["properties"]) == set(model.model_fields)


def test_the_progress_schema_lists_the_four_loris_states(document):
    assert document["components"]["schemas"]["Progress"]["enum"] == ["Not Started", "In Progress", "Failure", "Success"]


def test_every_operation_needs_a_bearer_token(document):
    assert document["security"] == [{"bearerAuth": []}]
    assert document["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}

"""The OpenAPI document the gateway serves (services.gateway.openapi)."""

import json

import pytest
from aiohttp import web

from services.common.api_models import (
    MAX_ID,
    NO_NUL,
    ErrorBody,
    LaunchAccepted,
    LogPage,
    RunList,
    UploadAccepted,
    UploadCheck,
    UploadCheckAnswer,
    UploadForm,
    UploadListQuery,
    UploadPage,
    UploadSummary,
)
from services.gateway.openapi import openapi_document
from services.gateway.routes import setup_routes
from services.gateway.status.status_models import DeadLettersReplayed, SystemStatus

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
    assert set(paths["/api/v1/uploads/check"]) == {"post"}
    assert set(paths["/api/v1/uploads/{upload_id}"]) == {"get"}
    assert set(paths["/api/v1/uploads/{upload_id}/log"]) == {"get"}
    assert set(paths["/api/v1/uploads/{upload_id}/runs"]) == {"get"}
    assert set(paths["/api/v1/uploads/{upload_id}/launch"]) == {"post"}
    assert set(paths["/api/v1/openapi.json"]) == {"get"}


def test_the_document_has_every_api_v1_route_the_gateway_serves_and_no_other(document):
    app = web.Application()
    setup_routes(app)
    routes = {(route.resource.canonical, route.method.lower()) for route in app.router.routes()
              if route.resource is not None and route.resource.canonical.startswith("/api/v1/")}
    # aiohttp serves HEAD beside each GET by itself; a HEAD of its own (tus's) is documented
    served = {(path, method) for path, method in routes if method != "head" or (path, "get") not in routes}

    documented = {(path, method) for path, operations in document["paths"].items() for method in operations}
    assert documented == served


def test_each_operation_has_its_own_operation_id(document):
    ids = [operation["operationId"] for operations in document["paths"].values() for operation in operations.values()]

    assert len(ids) == len(set(ids)) == 21


def test_the_live_log_is_an_event_stream_that_takes_the_log_s_mode_after_and_last_event_id(document):
    operation = document["paths"]["/api/v1/uploads/{upload_id}/log/events"]["get"]

    assert operation["operationId"] == "streamUploadLog"
    assert list(operation["responses"]["200"]["content"]) == ["text/event-stream"]
    assert set(operation["responses"]) == {"200", "400", "401", "403", "404", "503"}
    assert [(p["name"], p["in"]) for p in operation["parameters"]] == [
        ("upload_id", "path"), ("mode", "query"), ("after", "query"), ("Last-Event-ID", "header")]


def test_every_reference_in_the_document_points_to_a_schema_it_defines(document):
    refs = all_refs(document)
    schemas = document["components"]["schemas"]

    assert refs, "the document has no $ref at all"
    assert [ref for ref in refs if not ref.startswith(REF_PREFIX)] == []
    assert sorted({ref[len(REF_PREFIX):] for ref in refs} - set(schemas)) == []


def test_every_schema_the_api_answers_with_is_defined(document):
    schemas = document["components"]["schemas"]

    for model in (ErrorBody, LaunchAccepted, LogPage, RunList, UploadAccepted, UploadCheckAnswer, UploadPage,
                  UploadSummary, UploadCheck):
        assert model.__name__ in schemas


@pytest.mark.parametrize(
    ("path", "method", "status", "model"),
    [
        ("/api/v1/uploads", "post", "202", UploadAccepted),
        ("/api/v1/uploads", "get", "200", UploadPage),
        ("/api/v1/uploads/check", "post", "200", UploadCheckAnswer),
        ("/api/v1/uploads/{upload_id}", "get", "200", UploadSummary),
        ("/api/v1/uploads/{upload_id}/log", "get", "200", LogPage),
        ("/api/v1/uploads/{upload_id}/runs", "get", "200", RunList),
        ("/api/v1/uploads/{upload_id}/launch", "post", "202", LaunchAccepted),
        ("/api/v1/status", "get", "200", SystemStatus),
        ("/api/v1/status/dead-letters/replay", "post", "200", DeadLettersReplayed),
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


def test_the_upload_answers_409_413_415_and_422_for_taken_names_large_files_wrong_types_and_reused_keys(document):
    responses = document["paths"]["/api/v1/uploads"]["post"]["responses"]

    assert set(responses) == {"202", "400", "401", "403", "409", "413", "415", "422"}
    assert responses["415"]["description"] == "the file is not a .tgz, .tar.gz or .zip archive"
    assert "idempotency_key_reused" in responses["422"]["description"]


def test_the_upload_takes_an_optional_idempotency_key_and_says_when_its_answer_is_replayed(document):
    upload = document["paths"]["/api/v1/uploads"]["post"]

    [key] = [p for p in upload["parameters"] if p["name"] == "Idempotency-Key"]
    assert key["in"] == "header" and key["required"] is False
    assert key["schema"] == {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"}
    assert upload["responses"]["202"]["headers"]["Idempotent-Replayed"]["schema"] == {"type": "string",
                                                                                        "enum": ["true"]}


def test_the_upload_body_is_multipart_with_the_form_fields_and_a_binary_file(document):
    body = document["paths"]["/api/v1/uploads"]["post"]["requestBody"]

    assert body["required"] is True
    schema = body["content"]["multipart/form-data"]["schema"]
    assert list(schema["properties"]) == [*UploadForm.model_fields, "file"]
    assert schema["properties"]["file"]["type"] == "string"
    assert schema["properties"]["file"]["format"] == "binary"
    assert schema["required"] == ["file"]
    assert schema["additionalProperties"] is False


def test_the_upload_form_fields_in_the_document_carry_the_models_rules(document):
    properties = document["paths"]["/api/v1/uploads"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]

    assert properties["candid"] == {"type": "string", "maxLength": 255, "pattern": NO_NUL, "title": "Candid",
                                    "description": "the candidate's CandID (6 digits)"}
    assert properties["is_phantom"]["type"] == "boolean"
    assert properties["is_phantom"]["default"] is False


def test_the_upload_example_is_a_phantom_zip_whose_name_the_file_part_gives(document):
    content = document["paths"]["/api/v1/uploads"]["post"]["requestBody"]["content"]["multipart/form-data"]

    example = content["examples"]["phantom"]["value"]
    assert example["is_phantom"] is True
    assert example["file"].startswith("PK\x05\x06")
    assert 'filename="phantom_example.zip"' in content["encoding"]["file"]["headers"]["Content-Disposition"]["example"]


def test_the_check_takes_the_json_model_and_says_503_when_the_validator_does_not_answer(document):
    operation = document["paths"]["/api/v1/uploads/check"]["post"]

    assert operation["requestBody"]["content"]["application/json"]["schema"] == {"$ref": REF_PREFIX + "UploadCheck"}
    assert set(operation["responses"]) == {"200", "400", "401", "403", "413", "503"}
    assert "validator" in operation["responses"]["503"]["description"]


@pytest.mark.parametrize("path", ["/api/v1/uploads/{upload_id}", "/api/v1/uploads/{upload_id}/log",
                                  "/api/v1/uploads/{upload_id}/runs", "/api/v1/uploads/{upload_id}/launch"])
def test_the_upload_id_in_a_path_is_a_required_integer_of_63_bits_and_anything_else_a_400(document, path):
    operation = next(iter(document["paths"][path].values()))
    upload_id = [p for p in operation["parameters"] if p["name"] == "upload_id"]

    assert len(upload_id) == 1
    assert upload_id[0]["in"] == "path" and upload_id[0]["required"] is True
    assert upload_id[0]["schema"] == {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    assert "400" in operation["responses"]


@pytest.mark.parametrize(("operation_id", "path"), [
    ("getUpload", "/api/v1/uploads/{upload_id}"),
    ("getUploadLog", "/api/v1/uploads/{upload_id}/log"),
    ("getUploadRuns", "/api/v1/uploads/{upload_id}/runs"),
    ("launchUpload", "/api/v1/uploads/{upload_id}/launch"),
    ("cancelUpload", "/api/v1/uploads/{upload_id}/cancel"),
])
def test_the_upload_links_its_upload_id_to_each_operation_on_one_upload(document, operation_id, path):
    links = document["paths"]["/api/v1/uploads"]["post"]["responses"]["202"]["links"]
    target = next(iter(document["paths"][path].values()))

    assert links[operation_id]["operationId"] == target["operationId"] == operation_id
    assert links[operation_id]["parameters"] == {"upload_id": "$response.body#/upload_id"}


def test_every_link_names_an_operation_and_its_path_parameters(document):
    operations = {op["operationId"]: (path, op) for path, ops in document["paths"].items() for op in ops.values()}
    links = [link for _, op in operations.values() for response in op["responses"].values()
             for link in response.get("links", {}).values()]

    assert len(links) == 6 + 5 + 5  # the upload's to each operation on it; launch's and cancel's to the others
    for link in links:
        path, target = operations[link["operationId"]]
        path_parameters = {p["name"] for p in target.get("parameters", []) if p["in"] == "path"}
        assert set(link["parameters"]) == path_parameters
        assert all("{" + name + "}" in path for name in link["parameters"])


def test_the_upload_answers_where_the_new_upload_is(document):
    assert "Location" in document["paths"]["/api/v1/uploads"]["post"]["responses"]["202"]["headers"]


def test_the_log_can_be_asked_in_summary_or_detailed_mode_after_a_line_and_in_pages(document):
    parameters = {p["name"]: p for p in document["paths"]["/api/v1/uploads/{upload_id}/log"]["get"]["parameters"]}

    assert set(parameters) == {"upload_id", "mode", "after", "include_inactive", "limit"}
    assert (parameters["limit"]["schema"]["default"], parameters["limit"]["schema"]["maximum"]) == (1000, 10000)
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


def test_a_query_parameter_is_never_null_and_its_text_never_holds_a_nul(document):
    parameters = {p["name"]: p["schema"] for p in document["paths"]["/api/v1/uploads"]["get"]["parameters"]}

    assert "null" not in json.dumps(parameters)
    assert parameters["is_phantom"]["type"] == "boolean"
    assert parameters["progress"] == {"$ref": REF_PREFIX + "Progress"}
    assert parameters["page"]["minimum"] == 1 and parameters["page"]["maximum"] == 1_000_000
    for name in ("candid", "pscid", "visit_label", "site"):
        assert parameters[name]["type"] == "string"
        assert parameters[name]["pattern"] == NO_NUL


@pytest.mark.parametrize("model", [UploadSummary, UploadPage, LogPage, UploadAccepted, LaunchAccepted, ErrorBody,
                                   RunList, UploadCheckAnswer, UploadCheck])
def test_the_schemas_are_generated_from_the_models(document, model):
    schema = document["components"]["schemas"][model.__name__]

    assert set(schema["properties"]) == set(model.model_fields)


def test_the_progress_schema_lists_the_four_loris_states(document):
    assert document["components"]["schemas"]["Progress"]["enum"] == ["Not Started", "In Progress", "Failure", "Success"]


def test_every_operation_needs_a_bearer_token_or_the_session_cookie_but_signing_in_and_out(document):
    assert document["security"] == [{"bearerAuth": []}, {"sessionCookie": []}]
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert (schemes["sessionCookie"]["type"], schemes["sessionCookie"]["in"], schemes["sessionCookie"]["name"]) == (
        "apiKey", "cookie", "uploader_session")
    assert "X-CSRF-Token" in schemes["sessionCookie"]["description"]
    session = document["paths"]["/api/v1/session"]
    assert session["post"]["security"] == session["delete"]["security"] == []
    assert "security" not in session["get"]


def test_the_session_operations_answer_the_session_body_and_the_sign_in_declares_its_throttle(document):
    session = document["paths"]["/api/v1/session"]

    assert set(session) == {"post", "get", "delete"}
    assert session["post"]["requestBody"]["content"]["application/json"]["schema"] == {"$ref": REF_PREFIX + "SignIn"}
    for method in ("post", "get"):
        assert session[method]["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": REF_PREFIX + "SessionInfo"}
    assert set(session["post"]["responses"]) == {"200", "400", "401", "413", "415", "429", "503"}
    assert session["post"]["responses"]["429"]["headers"]["Retry-After"]["required"] is True
    assert "sign_in_busy" in session["post"]["responses"]["503"]["description"]
    assert set(session["delete"]["responses"]) == {"204", "403"}
    assert set(document["components"]["schemas"]["SessionInfo"]["properties"]) == {
        "username", "permissions", "sites", "may_use_uploader", "csrf_token", "max_upload_bytes"}

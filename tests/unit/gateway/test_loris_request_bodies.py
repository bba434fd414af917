"""LORIS's own checks of a request body: the upload's Json against the URL, and the launch's body."""

import json

import pytest

from services.gateway.loris_api.errors import LorisError
from services.gateway.loris_api.launch_request import upload_id_to_launch
from services.gateway.loris_api.upload_request import json_object, upload_fields, url_failures, value_failures

SENT = {"CandID": 300001, "PSCID": "MTL0001", "VisitLabel": "V1", "IsPhantom": False, "Overwrite": False}


def failures_of(**changes) -> list[str]:
    sent = {key: value for key, value in {**SENT, **changes}.items() if value is not ...}
    return url_failures(sent, "300001", "V1") + value_failures(sent)


def test_a_json_matching_the_url_passes_with_candid_as_a_number_or_a_string():
    assert failures_of() == [] and failures_of(CandID="300001") == []
    fields = upload_fields({**SENT, "CandID": 300001})
    assert (fields.candid, fields.pscid, fields.visit_label, fields.is_phantom, fields.overwrite) == (
        "300001", "MTL0001", "V1", False, False)


def test_overwrite_may_be_left_out_and_is_then_false():
    assert failures_of(Overwrite=...) == []
    assert upload_fields({key: value for key, value in SENT.items() if key != "Overwrite"}).overwrite is False


@pytest.mark.parametrize(("changes", "failure"), [
    ({"CandID": True}, "CandID in the Json must be 300001, as in the URL (a number or a string); it is true."),
    ({"CandID": ...}, "CandID in the Json must be 300001, as in the URL (a number or a string); it is missing."),
    ({"CandID": 300001.0}, "CandID in the Json must be 300001, as in the URL (a number or a string); it is 300001.0."),
    ({"VisitLabel": "v1"}, "VisitLabel v1 in the Json does not match visit V1 in the URL."),
    ({"IsPhantom": 0}, "IsPhantom in the Json must be true or false; it is 0."),
    ({"PSCID": "MTL\u0000"}, 'PSCID in the Json holds a NUL or a lone surrogate; it is "MTL\\u0000".'),
])
def test_each_failure_names_the_value(changes, failure):
    assert failures_of(**changes) == [failure]


@pytest.mark.parametrize("text", ["[1, 2]", "CandID=300001", "", '"a string"'])
def test_a_json_field_that_is_not_an_object_is_refused(text):
    with pytest.raises(LorisError) as refused:
        json_object(text)
    assert refused.value.status == 400


@pytest.mark.parametrize("upload_id", [12, "12"])
def test_a_launch_names_the_upload_by_a_number_or_a_string_of_digits(upload_id):
    assert upload_id_to_launch(json.dumps({"ProcessType": "mri_upload", "MriUploadID": upload_id}).encode()) == 12


@pytest.mark.parametrize(("body", "message"), [
    ({"ProcessType": "other", "MriUploadID": 12}, "Invalid ProcessType."),
    ({"MriUploadID": 12}, "Invalid ProcessType."),
    ({"ProcessType": "mri_upload", "MriUploadID": True},
     "MriUploadID must be the number of an upload, as GET .../processes lists it; it is true."),
    ({"ProcessType": "mri_upload", "MriUploadID": 0},
     "MriUploadID must be the number of an upload, as GET .../processes lists it; it is 0."),
    ({"ProcessType": "mri_upload"},
     "MriUploadID must be the number of an upload, as GET .../processes lists it; it is missing."),
    ([], 'Send the launch as a JSON object like {"ProcessType": "mri_upload", "MriUploadID": 12}.'),
])
def test_a_bad_launch_body_is_a_400(body, message):
    with pytest.raises(LorisError) as refused:
        upload_id_to_launch(json.dumps(body).encode())
    assert (refused.value.status, refused.value.message) == (400, message)

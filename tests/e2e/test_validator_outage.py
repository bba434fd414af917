"""While the validator does not answer, uploads are still accepted (never
refused for that, never lost) and decided as soon as it is back; the
pre-flight says it cannot answer."""

import pytest

from tests.support.api import UploaderClient


@pytest.fixture(scope="module")
def stack_overrides() -> dict[str, str]:
    return {"UPLOADER_RULE_CHECK_TIMEOUT_SECONDS": "0.5"}


async def test_an_upload_sent_while_the_validator_is_down_is_accepted_then_decided_when_it_is_back(
    stack, client: UploaderClient, archive
):
    good, bad = archive(), archive("MTL0002", "300002", "V1")
    stack.stop_service("validator")
    try:
        accepted_good = await client.upload(good, candid="300001", pscid="MTL0001", visit_label="V1")
        accepted_bad = await client.upload(bad, candid="300002", pscid="MTL0002", visit_label="V1")
        preflight = await client.check(file_name=good.name, file_size=100, candid="300001", pscid="MTL0001",
                                       visit_label="V1")
    finally:
        stack.start_service("validator")
        stack.wait_healthy("validator")

    assert (accepted_good.status, accepted_bad.status) == (202, 202)
    assert preflight.status == 503
    assert (await preflight.json())["error"]["code"] == "rule_check_unavailable"
    good_id, bad_id = (await accepted_good.json())["upload_id"], (await accepted_bad.json())["upload_id"]
    assert (await client.wait_for_progress(good_id))["progress"] == "Success"
    assert (await client.wait_for_progress(bad_id))["progress"] == "Failure"
    errors = [line["message"] for line in (await client.log(bad_id))["lines"] if line["is_error"]]
    assert errors == ["Candidate 300002 (PSCID MTL0002) is not active.",
                      "The upload was rejected: correct the values above and upload it again."]

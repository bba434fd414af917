"""One upload, from the HTTP request to a finished pipeline run, across the
four services running as processes on the real RabbitMQ and PostgreSQL."""

from tests.support.api import UploaderClient


async def test_a_valid_dicom_archive_reaches_success_and_its_log_tells_the_story(client: UploaderClient, archive, stack, incoming_path):
    path = archive(n_files=4)

    answer = await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1")

    assert answer.status == 202, await answer.text()
    accepted = await answer.json()
    assert accepted["attempt"] == 1 and accepted["file_name"] == path.name
    summary = await client.wait_for_progress(accepted["upload_id"])
    assert summary["progress"] == "Success"
    assert summary["exit_code"] == 0
    assert (summary["candid"], summary["pscid"], summary["visit_label"]) == ("300001", "MTL0001", "V1")
    log = await client.log(accepted["upload_id"], mode="summary")
    messages = [line["message"] for line in log["lines"]]
    assert messages[0].startswith(f"Upload received: {path.name}")
    assert "Candidate checked: CandID 300001, PSCID MTL0001, visit V1 are valid and active." in messages
    assert "Pipeline started." in messages
    assert "Found 4 DICOM files" in messages
    assert messages[-1] == "Pipeline finished successfully: the scan was inserted."
    assert log["status"] == "Finished: the upload succeeded."
    assert not any(line["is_verbose"] for line in log["lines"])
    assert not list(incoming_path.rglob(path.name)), "the scan stays in the incoming path after success"


async def test_the_detailed_log_adds_the_verbose_lines_and_after_returns_only_newer_ones(client: UploaderClient, archive):
    path = archive(n_files=2)
    upload_id = (await (await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1")).json())["upload_id"]
    await client.wait_for_progress(upload_id)

    summary = await client.log(upload_id, mode="summary")
    detailed = await client.log(upload_id, mode="detailed")
    later = await client.log(upload_id, mode="detailed", after=summary["lines"][2]["line_id"])

    assert len(detailed["lines"]) > len(summary["lines"])
    label = path.name.rsplit("_", 1)[0]
    assert f"PatientName {label} matches in all 2 DICOM files" in [line["message"] for line in detailed["lines"]]
    assert [line["line_id"] for line in later["lines"]] == [
        line["line_id"] for line in detailed["lines"] if line["line_id"] > summary["lines"][2]["line_id"]
    ]
    assert later["last_line_id"] == detailed["lines"][-1]["line_id"]
    empty = await client.log(upload_id, mode="detailed", after=later["last_line_id"])
    assert empty["lines"] == [] and empty["last_line_id"] == later["last_line_id"]


async def test_browse_filters_by_candidate_and_progress_and_counts_the_total(client: UploaderClient, archive):
    ids = []
    for _ in range(3):
        path = archive(pscid="OTT0001", candid="400001")
        ids.append((await (await client.upload(path, candid="400001", pscid="OTT0001", visit_label="V1")).json())["upload_id"])
    for upload_id in ids:
        await client.wait_for_progress(upload_id)

    page = await (await client.get("/api/v1/uploads", candid="400001", progress="Success", page_size=2)).json()
    second = await (await client.get("/api/v1/uploads", candid="400001", progress="Success", page_size=2, page=2)).json()

    assert page["total"] >= 3
    assert len(page["items"]) == 2
    assert all(item["candid"] == "400001" and item["progress"] == "Success" for item in page["items"] + second["items"])
    assert {item["upload_id"] for item in page["items"]}.isdisjoint(item["upload_id"] for item in second["items"])
    by_pscid = await (await client.get("/api/v1/uploads", pscid="OTT0001", visit_label="V1")).json()
    assert set(ids) <= {item["upload_id"] for item in by_pscid["items"]}
    bad = await client.get("/api/v1/uploads", progress="Finished")
    assert bad.status == 400
    assert (await bad.json())["error"]["field"] == "progress"

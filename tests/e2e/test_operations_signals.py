"""What an operator reads off the running services: each service's /metrics
after uploads have flowed, and JSON log lines that follow one upload across
the four services."""

import json

from prometheus_client.parser import text_string_to_metric_families

from tests.support.api import UploaderClient
from tests.support.stack import SERVICES


async def scrape(http, stack, service: str) -> dict[str, list]:
    """The samples of one service's /metrics, by metric family name."""
    async with http.get(f"http://127.0.0.1:{stack.ports[service]}/metrics") as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain")
        text = await answer.text()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(families: dict, sample_name: str, **labels) -> float:
    family = sample_name.removesuffix("_total").removesuffix("_count").removesuffix("_sum")
    return sum(s.value for s in families.get(family, []) if s.name == sample_name
               and all(s.labels.get(k) == v for k, v in labels.items()))


async def scrape_all(http, stack) -> dict[str, dict]:
    return {service: await scrape(http, stack, service) for service in SERVICES}


async def test_metrics_count_what_happened_to_uploads_in_every_service(client: UploaderClient, archive, stack, http):
    # The database is the test session's: other modules' runs may be picked up too, so changes are compared.
    before = await scrape_all(http, stack)
    good, bad = archive(n_files=2), archive(patient_name="NOT_THE_RIGHT_NAME")
    ok_id = (await (await client.upload(good, candid="300001", pscid="MTL0001", visit_label="V1")).json())["upload_id"]
    bad_id = (await (await client.upload(bad, candid="300001", pscid="MTL0001", visit_label="V1")).json())["upload_id"]
    refused = await client.upload(archive(candid="999999"), candid="999999", pscid="MTL0001", visit_label="V1")
    checked = await client.check(file_name="MTL0001_300001_V1.tgz", file_size=10, candid="300001",
                                 pscid="NOPE", visit_label="V1")
    assert refused.status in (400, 403, 404, 422) and checked.status == 200
    assert (await client.wait_for_progress(ok_id))["progress"] == "Success"
    assert (await client.wait_for_progress(bad_id))["exit_code"] == 151
    after = await scrape_all(http, stack)

    def grew(service: str, sample_name: str, **labels) -> float:
        return value(after[service], sample_name, **labels) - value(before[service], sample_name, **labels)

    assert grew("gateway", "uploader_uploads_received_total", outcome="accepted") == 2
    assert grew("gateway", "uploader_uploads_received_total", outcome="refused") == 1
    assert grew("gateway", "uploader_upload_received_bytes_total") == good.stat().st_size + bad.stat().st_size
    assert grew("gateway", "uploader_upload_duration_seconds_count") == 2
    assert grew("gateway", "uploader_preflight_decisions_total", decision="refused") >= 1
    assert grew("gateway", "uploader_messages_consumed_total", queue="uploader.gateway") >= 6
    assert grew("gateway", "uploader_messages_published_total", routing_key="upload.received") == 2
    assert value(after["gateway"], "uploader_db_pool_max_connections", service="gateway") > 0

    assert grew("validator", "uploader_validation_decisions_total", decision="validated", rule="none") == 2
    assert grew("validator", "uploader_message_handler_duration_seconds_count", queue="uploader.validator") == 2

    launcher = after["launcher"]
    assert grew("launcher", "uploader_pipeline_runs_total", outcome="succeeded", exit_code="0") >= 1
    assert grew("launcher", "uploader_pipeline_runs_total", outcome="failed", exit_code="151") == 1
    assert grew("launcher", "uploader_pipeline_duration_seconds_count") >= 2
    assert value(launcher, "uploader_pipeline_slots") >= 1
    assert "uploader_pipeline_runs_queued" in launcher and "uploader_pipeline_runs_in_flight" in launcher
    assert "uploader_outbox_pending_events" in launcher and "uploader_outbox_oldest_pending_age_seconds" in launcher

    for service in SERVICES:
        for name, samples in after[service].items():
            labelled = {label for sample in samples for label in sample.labels}
            assert "upload_id" not in labelled, f"{service}'s {name} has an upload id label"


async def test_one_grep_follows_an_upload_through_the_json_logs_of_every_service(client: UploaderClient, archive, stack):
    path = archive(n_files=2)
    upload_id = (await (await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1")).json())["upload_id"]
    await client.wait_for_progress(upload_id)

    about_the_upload = {service: [] for service in SERVICES}
    for service in SERVICES:
        for line in (stack.log_dir / f"{service}.log").read_text().splitlines():
            record = json.loads(line)  # every line is JSON
            assert record["service"] == service and record["replica"]
            if record.get("upload_id") == upload_id:
                about_the_upload[service].append(record)

    assert all(about_the_upload.values()), {service: len(lines) for service, lines in about_the_upload.items()}
    launcher_lines = about_the_upload["launcher"]
    assert {"pipeline started", "pipeline finished"} <= {record["message"] for record in launcher_lines}
    assert all(record["attempt"] == 1 for records in about_the_upload.values() for record in records)
    handled = [record for records in about_the_upload.values() for record in records if record["message"] == "event handled"]
    assert handled and all(record["event_id"] for record in handled)

"""The shipped monitoring works: promtool accepts deploy/prometheus/ and its
alerts pass their unit tests (prometheus_alerts_test.yml); and with
Prometheus scraping the running services and RabbitMQ through the shipped scrape
configuration (targets rewritten to local ports), after uploads that succeed,
fail in the pipeline, are refused or rejected by a rule, and a message that is
dead-lettered, every panel of both Grafana dashboards shows data and every alert
rule parses and evaluates."""

import asyncio
import json
import re
import subprocess
import uuid
from pathlib import Path

import aio_pika
import aiohttp
import pytest
import yaml

from services.common.topology import DEAD_LETTER_QUEUE, EVENTS_EXCHANGE
from tests.conftest import DEMO_TOKEN
from tests.support.api import UploaderClient
from tests.support.dicom_archives import make_dicom_archive
from tests.support.prometheus import (
    GRAFANA_DASHBOARDS_DIR, GRAFANA_DIR, PROMETHEUS_DIR, RABBITMQ_PROMETHEUS_ADDRESS, Prometheus, local_config, tool,
)

DASHBOARDS = ("imaging-uploader.json", "rabbitmq-overview.json")
ALERT_TESTS = Path(__file__).with_name("prometheus_alerts_test.yml")
# What Grafana puts in place of its own variables; a window of many 1 s scrapes.
GRAFANA_GLOBALS = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1m"}
# Counters that only have a series once something went wrong that these uploads do not cause (a
# handler that fails, a broker redelivery); a target of only these may show nothing here, its panel not.
ONLY_WHEN_HANDLERS_FAIL = ("uploader_messages_failed_total", "uploader_messages_redelivered_total")
DATA_WAIT_SECONDS = 20


@pytest.fixture(scope="module")
def stack_overrides() -> dict[str, str]:
    # The validator is stopped for a moment: a rule check must give up quickly.
    return {"UPLOADER_RULE_CHECK_TIMEOUT_SECONDS": "0.5"}


@pytest.fixture(scope="module")
def prometheus(stack, tmp_path_factory):
    targets = {name: f"127.0.0.1:{port}" for name, port in stack.ports.items()}
    targets |= {"rabbitmq": RABBITMQ_PROMETHEUS_ADDRESS, "rabbitmq-queues": RABBITMQ_PROMETHEUS_ADDRESS}
    with Prometheus(local_config(targets), tmp_path_factory.mktemp("prometheus")) as running:
        yield running


@pytest.fixture(scope="module")
async def traffic(stack, prometheus, amqp_url, tmp_path_factory):
    """Uploads of every kind, and a message that is not an event, while Prometheus scrapes."""
    make = _archive_maker(tmp_path_factory.mktemp("archives"))
    async with aiohttp.ClientSession() as http:
        client = UploaderClient(http, stack.gateway_url, DEMO_TOKEN)
        # While the validator is away the upload is accepted; back, it rejects it (the candidate is inactive).
        stack.stop_service("validator")
        try:
            rejected = await _accepted(client, make("MTL0002", "300002", "V1"))
        finally:
            stack.start_service("validator")
            stack.wait_healthy("validator")
        good = [await _accepted(client, make()) for _ in range(2)]
        broken = await _accepted(client, make(patient_name="MTL0001_300001_V2"))
        refused = await client.upload(make(candid="999999"), candid="999999", pscid="MTL0001", visit_label="V1")
        assert refused.status == 400, await refused.text()
        for pscid, ok in (("MTL0001", True), ("NOPE", False)):
            checked = await client.check(file_name=f"MTL0001_300001_V1_{uuid.uuid4().hex[:8]}.tgz", file_size=10,
                                         candid="300001", pscid=pscid, visit_label="V1")
            assert checked.status == 200 and (await checked.json())["ok"] is ok, await checked.text()
        garbage = f"not an event {uuid.uuid4()}".encode()
        await _publish_raw(amqp_url, garbage, "upload.received")
        for upload_id, progress in [*((i, "Success") for i in good), (broken, "Failure"), (rejected, "Failure")]:
            assert (await client.wait_for_progress(upload_id))["progress"] == progress, upload_id
    yield
    await _take_dead_letter(amqp_url, garbage)


def test_every_dashboard_panel_reads_the_provisioned_prometheus_data_source():
    provisioned = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uid = provisioned["datasources"][0]["uid"]
    for dashboard_name in DASHBOARDS:
        dashboard = json.loads((GRAFANA_DASHBOARDS_DIR / dashboard_name).read_text())
        panels = _panels(dashboard)
        assert panels and len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
        for panel in panels:
            assert panel["type"] in ("timeseries", "stat"), (dashboard_name, panel["title"])
            sources = [panel["datasource"], *(target["datasource"] for target in panel["targets"])]
            assert all(source["uid"] == uid for source in sources), (dashboard_name, panel["title"], sources)


def test_promtool_accepts_the_shipped_configuration_and_alert_rules():
    # Run where the configuration's relative rule_files path resolves.
    for args in (["check", "config", "prometheus.yml"], ["check", "rules", "alerts.yml"]):
        result = subprocess.run([tool("promtool"), *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True)
        assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}{result.stderr}"


def test_each_alert_fires_when_its_condition_holds_for_its_time_and_not_before():
    result = subprocess.run([tool("promtool"), "test", "rules", ALERT_TESTS.name], cwd=ALERT_TESTS.parent,
                            capture_output=True, text=True)
    assert result.returncode == 0, f"promtool test rules {ALERT_TESTS}:\n{result.stdout}{result.stderr}"


async def test_prometheus_scrapes_every_service_and_rabbitmq_with_the_shipped_jobs(prometheus, traffic, http):
    down = await _wait_all_targets_up(prometheus, http)
    assert not down, f"targets not up: {down}"


async def test_every_dashboard_panel_shows_data_after_a_few_uploads(prometheus, traffic, http, run_name):
    await _wait_all_targets_up(prometheus, http)
    queries = []  # (dashboard, panel title, refId, expression)
    for dashboard_name in DASHBOARDS:
        dashboard = json.loads((GRAFANA_DASHBOARDS_DIR / dashboard_name).read_text())
        variables = {f"${v['name']}": re.escape(run_name) for v in dashboard["templating"]["list"]}
        for panel in _panels(dashboard):
            for target in panel["targets"]:
                expr = _substitute(target["expr"], {**GRAFANA_GLOBALS, **variables})
                queries.append((dashboard_name, panel["title"], target["refId"], expr))

    answers = await _query_until_data(prometheus, http, [expr for *_, expr in queries])

    problems = []
    series_by_panel = {}
    for (dashboard_name, title, ref_id, expr), answer in zip(queries, answers):
        where = f"{dashboard_name}, panel {title!r}, target {ref_id}: {expr}"
        if answer["status"] != "success":
            problems.append(f"{where}\n    does not evaluate: {answer['error']}")
            continue
        found = len(answer["data"]["result"])
        series_by_panel[dashboard_name, title] = series_by_panel.get((dashboard_name, title), 0) + found
        if not found and not _may_be_empty(expr):
            problems.append(f"{where}\n    returned no series")
    problems += [f"{dashboard_name}, panel {title!r}: no target returned a series"
                 for (dashboard_name, title), found in series_by_panel.items() if not found]
    assert not problems, "\n".join(problems)


async def test_every_alert_rule_parses_and_is_evaluated_by_prometheus(prometheus, traffic, http):
    rules = _alert_rules()
    assert {rule["alert"] for rule in rules} == {
        "UploaderServiceDown", "UploaderNoLauncherAlive", "UploaderQueueBackingUp", "UploaderDeadLettersPresent",
        "UploaderPipelineFailureRate", "UploaderOutboxNotDraining", "UploaderOutboxEventSetAside"}
    for rule in rules:
        answer = await prometheus.query(http, rule["expr"])
        assert answer["status"] == "success", f"alert {rule['alert']}: {rule['expr']!r}: {answer.get('error')}"
        assert {"severity"} <= set(rule["labels"]) and {"summary", "description"} <= set(rule["annotations"])
        assert rule.get("for"), f"alert {rule['alert']} fires on a single evaluation"

    loaded = await _wait_rules_evaluated(prometheus, http, len(rules))
    assert {rule["name"]: rule["health"] for rule in loaded} == {rule["alert"]: "ok" for rule in rules}, loaded


async def test_the_dead_letter_alert_sees_the_dead_letter_and_the_launcher_alert_sees_a_launcher(
    prometheus, traffic, http, run_name
):
    rules = {rule["alert"]: rule["expr"] for rule in _alert_rules()}
    [dead_letters] = await _query_until_data(prometheus, http, [rules["UploaderDeadLettersPresent"]])
    assert run_name in {series["metric"]["vhost"] for series in dead_letters["data"]["result"]}, dead_letters
    assert (await prometheus.query(http, rules["UploaderNoLauncherAlive"]))["data"]["result"] == []


async def test_with_the_launcher_stopped_the_no_launcher_and_service_down_alerts_see_it(
    prometheus, traffic, stack, http
):
    rules = {rule["alert"]: rule["expr"] for rule in _alert_rules()}
    stack.stop_service("launcher")
    try:
        [no_launcher, down] = await _query_until_data(
            prometheus, http, [rules["UploaderNoLauncherAlive"], rules["UploaderServiceDown"]])
    finally:
        stack.start_service("launcher")
        stack.wait_healthy("launcher")
    assert len(no_launcher["data"]["result"]) == 1, no_launcher
    assert [series["metric"]["job"] for series in down["data"]["result"]] == ["launcher"], down


# --- helpers -----------------------------------------------------------------


def _alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
            for rule in group["rules"]]


def _panels(dashboard: dict) -> list[dict]:
    """Every panel with queries, those inside collapsed rows included."""
    panels = []
    for panel in dashboard["panels"]:
        panels.extend(_panels(panel) if panel.get("panels") else [])
        if panel.get("targets"):
            panels.append(panel)
    return panels


def _substitute(expr: str, values: dict[str, str]) -> str:
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace(name, values[name])
    unknown = re.findall(r"\$\{?\w+", expr)
    assert not unknown, f"{expr!r} uses variables the test does not know: {unknown}"
    return expr


def _may_be_empty(expr: str) -> bool:
    return any(metric in expr for metric in ONLY_WHEN_HANDLERS_FAIL)


async def _query_until_data(prometheus: Prometheus, http, exprs: list[str]) -> list[dict]:
    """Each query's answer, asked again while it has no series (the last scrapes may be a second away,
    and a rate needs two samples), for up to DATA_WAIT_SECONDS."""
    answers: list[dict] = [{}] * len(exprs)
    pending = list(range(len(exprs)))
    deadline = asyncio.get_running_loop().time() + DATA_WAIT_SECONDS
    while True:
        for index in pending:
            answers[index] = await prometheus.query(http, exprs[index])
        pending = [i for i in pending if answers[i]["status"] == "success" and not answers[i]["data"]["result"]]
        if all(_may_be_empty(exprs[i]) for i in pending) or asyncio.get_running_loop().time() > deadline:
            return answers
        await asyncio.sleep(0.5)


async def _wait_all_targets_up(prometheus: Prometheus, http, timeout: float = 20) -> dict[str, str]:
    """Waits until every target's last scrape succeeded; returns those still not up (job: error)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        targets = (await prometheus.api(http, "targets", state="active"))["data"]["activeTargets"]
        down = {t["labels"]["job"]: t["lastError"] or t["health"] for t in targets if t["health"] != "up"}
        if (targets and not down) or asyncio.get_running_loop().time() > deadline:
            return down if targets else {"(none)": "no targets"}
        await asyncio.sleep(0.5)


async def _wait_rules_evaluated(prometheus: Prometheus, http, count: int, timeout: float = 10) -> list[dict]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        groups = (await prometheus.api(http, "rules", type="alert"))["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        if (len(rules) == count and all(r["health"] != "unknown" for r in rules)) or \
                asyncio.get_running_loop().time() > deadline:
            return rules
        await asyncio.sleep(0.5)


def _archive_maker(directory):
    def make(pscid="MTL0001", candid="300001", visit="V1", patient_name=None):
        name = f"{pscid}_{candid}_{visit}_{uuid.uuid4().hex[:8]}.tgz"
        return make_dicom_archive(directory / name, patient_name or f"{pscid}_{candid}_{visit}", 1)

    return make


async def _accepted(client: UploaderClient, path) -> int:
    pscid, candid, visit = path.name.split("_")[:3]
    answer = await client.upload(path, candid=candid, pscid=pscid, visit_label=visit)
    assert answer.status == 202, await answer.text()
    return (await answer.json())["upload_id"]


async def _publish_raw(amqp_url: str, body: bytes, routing_key: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(EVENTS_EXCHANGE)
        await exchange.publish(aio_pika.Message(body), routing_key=routing_key)


async def _take_dead_letter(amqp_url: str, body: bytes) -> None:
    """Remove the test's own dead letters (one from each queue bound to its routing key), leaving any other."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(DEAD_LETTER_QUEUE)
        others = []
        while (message := await queue.get(fail=False)) is not None:
            if message.body == body:
                await message.ack()
            else:
                others.append(message)
        for message in others:
            await message.nack(requeue=True)

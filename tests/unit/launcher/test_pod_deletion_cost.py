"""A launcher in Kubernetes keeps its pod's deletion cost at its runs in flight
(services.launcher.pod_deletion_cost), through a local HTTPS server that answers as the Kubernetes API:
the count is sent in the background, the latest one wins, and an API away delays it without a word to
the runs."""

import logging

import pytest

from services.launcher.pod_deletion_cost import pod_deletion_cost
from tests.integration.helpers import eventually
from tests.support.kubernetes_api import FakeKubernetesApi, make_tls

NAMESPACE = "imaging-uploader"
POD = "launcher-7c5d8f9b6d-x2kqz"
OTHER_POD = "gateway-5f7b9c8d7f-h4mnp"
FAST_RETRIES = 0.5  # the longest wait between tries, in seconds


@pytest.fixture
async def api(tmp_path):
    api = FakeKubernetesApi(NAMESPACE, [POD, OTHER_POD], tmp_path)
    await api.up()
    yield api
    await api.down()


@pytest.fixture
def service_account(api, tmp_path):
    return api.service_account(tmp_path / "serviceaccount")


async def test_outside_kubernetes_nothing_is_called(api, service_account):
    for environment in ({}, {**api.in_cluster(POD), "POD_NAME": ""}):  # no downward API: not the manifests' pod
        async with pod_deletion_cost(service_account, environment, FAST_RETRIES) as runs_in_flight:
            runs_in_flight(1)
            runs_in_flight(0)

    assert api.patches == [] and api.refused == []


async def test_the_cost_is_reset_at_start_then_follows_the_runs_in_flight(api, service_account):
    async with pod_deletion_cost(service_account, api.in_cluster(POD), FAST_RETRIES) as runs_in_flight:
        await eventually(api.cost_is(POD, "0"), what="the cost reset at start")
        runs_in_flight(1)
        await eventually(api.cost_is(POD, "1"), what="the cost of one run")
        runs_in_flight(2)
        await eventually(api.cost_is(POD, "2"), what="the cost of two runs")
        runs_in_flight(0)
        await eventually(api.cost_is(POD, "0"), what="the cost of an idle launcher")

    assert api.patches == [(POD, "0"), (POD, "1"), (POD, "2"), (POD, "0")]
    assert api.pods[POD]["metadata"]["annotations"]["prometheus.io/scrape"] == "true", "other annotations are kept"
    assert api.cost(OTHER_POD) is None and api.refused == []


async def test_while_the_api_is_away_the_runs_go_on_and_the_latest_count_is_sent_once_it_is_back(
    api, service_account, caplog
):
    async with pod_deletion_cost(service_account, api.in_cluster(POD), FAST_RETRIES) as runs_in_flight:
        await eventually(api.cost_is(POD, "0"), what="the cost reset at start")
        await api.down()
        runs_in_flight(1)  # returns at once: a run never waits for the API
        runs_in_flight(2)
        await eventually(lambda: _logged(caplog, "could not set the pod deletion cost"), what="a failed try")
        runs_in_flight(1)
        await api.up()
        await eventually(api.cost_is(POD, "1"), what="the latest count, once the API is back")

    assert api.patches == [(POD, "0"), (POD, "1")], "a count overtaken while the API was away is never sent"


async def test_a_refused_patch_is_tried_again_with_the_token_read_anew(api, service_account, caplog):
    """Kubernetes rotates a service account's token in its file: each try reads it."""
    token = service_account / "token"
    right = token.read_text()
    token.write_text("an-expired-token")
    async with pod_deletion_cost(service_account, api.in_cluster(POD), FAST_RETRIES) as runs_in_flight:
        runs_in_flight(1)
        await eventually(lambda: _logged(caplog, "401 Unauthorized"), what="the refusal, logged")
        token.write_text(right)
        await eventually(api.cost_is(POD, "1"), what="the cost, with the new token")

    assert 401 in api.refused


async def test_an_api_whose_certificate_the_pods_ca_did_not_sign_is_never_sent_the_token(
    api, service_account, tmp_path, caplog
):
    other = tmp_path / "other"
    other.mkdir()
    other_ca, _, _ = make_tls(other)
    (service_account / "ca.crt").write_bytes(other_ca.read_bytes())
    async with pod_deletion_cost(service_account, api.in_cluster(POD), FAST_RETRIES) as runs_in_flight:
        runs_in_flight(1)
        await eventually(lambda: _logged(caplog, "certificate verify failed"), what="the refused certificate, logged")

    assert api.patches == [] and api.refused == []


async def _logged(caplog, text: str) -> bool:
    return any(text in str(record.__dict__.get("error", "")) or text in record.getMessage()
               for record in caplog.records if record.levelno >= logging.WARNING)

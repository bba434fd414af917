"""A launcher in Kubernetes keeps its pod's deletion cost at its runs in flight, so that scaling the
launchers down removes an idle one first; the real launcher, in-process, with a local HTTPS server that
answers as the Kubernetes API. A run never waits for the API: while it is away the run goes on and ends,
and the launcher's cost is set once the API is back."""

import pytest

from services.launcher.__main__ import build_app
from tests.integration.helpers import eventually, leave_no_launch_over, new_upload_id, scan_facts
from tests.integration.test_launcher import finished_of, granted
from tests.support.inprocess import running_app
from tests.support.kubernetes_api import FakeKubernetesApi
from tests.support.tap import of_upload

NAMESPACE = "imaging-uploader"
POD = "launcher-7c5d8f9b6d-x2kqz"


@pytest.fixture
async def api(tmp_path):
    api = FakeKubernetesApi(NAMESPACE, [POD], tmp_path)
    await api.up()
    yield api
    await api.down()


@pytest.fixture
def in_the_pod(api, tmp_path, monkeypatch):
    """The launcher's environment in the manifests' pod; returns its service account folder."""
    for name, value in api.in_cluster(POD).items():
        monkeypatch.setenv(name, value)
    return api.service_account(tmp_path / "serviceaccount")


def waiting_pipeline(folder) -> tuple[str, object]:
    """A pipeline command that runs until its release file appears; returns it and that file."""
    release = folder / "release"
    script = folder / "wait_for_release.py"
    script.write_text("import pathlib, time\n"
                      "print('[info] waiting for the release', flush=True)\n"
                      f"while not pathlib.Path({str(release)!r}).exists():\n"
                      "    time.sleep(0.05)\n")
    return f"{{python}} {script}", release


async def test_a_busy_launcher_s_pod_costs_its_run_and_an_idle_one_s_nothing_even_after_the_api_was_away(
    launcher_settings, tap, api, in_the_pod, tmp_path, amqp_url, pool
):
    await leave_no_launch_over(amqp_url, pool)
    upload_id = new_upload_id()
    command, release = waiting_pipeline(tmp_path)
    settings = launcher_settings(pipeline_command=command, kubernetes_service_account_path=in_the_pod)

    async with running_app(build_app(settings)):
        await eventually(api.cost_is(POD, "0"), what="the cost reset when the launcher starts")
        await tap.publish(granted(upload_id, 1, scan_facts(upload_id)))
        await tap.wait_for(of_upload(upload_id, "pipeline.started"))
        await eventually(api.cost_is(POD, "1"), what="the cost of the busy launcher's pod")

        await api.down()
        release.touch()
        finished = await finished_of(tap, upload_id)
        assert (finished.exit_code, finished.outcome) == (0, "succeeded"), "the run went on without the API"
        assert api.cost(POD) == "1"

        await api.up()
        await eventually(api.cost_is(POD, "0"), timeout=30, what="the idle launcher's cost, once the API is back")

    assert [cost for _, cost in api.patches] == ["0", "1", "0"]

"""Three launchers (and two validators) started from the Procfile, as `make run
LAUNCHERS=3 VALIDATORS=2` starts them: the runs spread across the launchers and
no upload runs twice."""

import asyncio
from datetime import datetime

import pytest

from tests.conftest import DEMO_TOKEN
from tests.support.api import UploaderClient
from tests.support.procfile_stack import ProcfileStack
from tests.support.stack import REPO_ROOT

LAUNCHERS = 3
MAX_CONCURRENT_RUNS = 2
UPLOADS = 12
# About 2 s a run, so that twelve keep more than one launcher's two slots busy at once.
SLOW_PIPELINE = (f"{{python}} {REPO_ROOT / 'tests/support/slow_pipeline.py'} --steps 3 --delay 0.5 -- "
                 "--upload-id {upload_id} --patient-name={patient_name} {scan_path}")


@pytest.fixture(scope="module")
def replicas(service_env, tmp_path_factory):
    overrides = {"UPLOADER_PIPELINE_COMMAND": SLOW_PIPELINE,
                 "UPLOADER_MAX_CONCURRENT_RUNS": str(MAX_CONCURRENT_RUNS)}
    log_path = tmp_path_factory.mktemp("procfile") / "honcho.log"
    with ProcfileStack({**service_env, **overrides}, log_path, {"validator": 2, "launcher": LAUNCHERS}) as running:
        yield running


def most_at_once(intervals: list[tuple[datetime, datetime]]) -> int:
    """The most intervals that overlap at one time."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


async def test_runs_spread_across_three_launchers_and_each_upload_runs_exactly_once(replicas, http, archive, pool):
    client = UploaderClient(http, replicas.gateway_url, DEMO_TOKEN)
    upload_ids = []
    for _ in range(UPLOADS):
        answer = await client.upload(archive(n_files=1), candid="300001", pscid="MTL0001", visit_label="V1")
        assert answer.status == 202, await answer.text()
        upload_ids.append((await answer.json())["upload_id"])

    summaries = await asyncio.gather(*(client.wait_for_progress(upload_id, timeout=50) for upload_id in upload_ids))

    assert [summary["progress"] for summary in summaries] == ["Success"] * UPLOADS, replicas.log_tail()
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT upload_id, attempt, owner, state, started_at, finished_at FROM launcher.runs"
                                " WHERE upload_id = any($1::bigint[]) ORDER BY run_id", upload_ids)
    assert sorted((row["upload_id"], row["attempt"]) for row in rows) == [(upload_id, 1) for upload_id in upload_ids]
    assert {row["state"] for row in rows} == {"succeeded"}
    launchers = {row["owner"].split(":")[0] for row in rows}
    assert launchers == {f"launcher.{n}" for n in range(1, LAUNCHERS + 1)}, [row["owner"] for row in rows]
    assert most_at_once([(row["started_at"], row["finished_at"]) for row in rows]) > MAX_CONCURRENT_RUNS
    for upload_id in upload_ids:
        runs = (await (await client.get(f"/api/v1/uploads/{upload_id}/runs")).json())["runs"]
        assert [run["outcome"] for run in runs] == ["succeeded"], runs
        assert runs[0]["launcher"] in {row["owner"] for row in rows}
        started = [line for line in (await client.log(upload_id))["lines"] if line["message"] == "Pipeline started."]
        assert len(started) == 1, f"upload {upload_id}'s pipeline started {len(started)} times"

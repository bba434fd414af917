"""A launcher runs at most UPLOADER_MAX_CONCURRENT_RUNS pipelines at once."""

import random

from services.common.messages import LaunchRequested, ScanFacts
from services.launcher.__main__ import build_app
from tests.support.inprocess import running_app


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = highest = 0
    for _, step in edges:
        running += step
        highest = max(highest, running)
    return highest


async def test_five_launch_requests_never_run_more_than_two_pipelines_at_once(launcher_settings, tap, pool):
    settings = launcher_settings(
        max_concurrent_runs=2,
        pipeline_command='{python} -c "import time; print(\'[info] working\', flush=True); time.sleep(0.6)"',
    )
    upload_ids = [random.randint(10**6, 10**9) for _ in range(5)]
    async with running_app(build_app(settings)):
        for upload_id in upload_ids:
            scan = ScanFacts(file_name="MTL0001_300001_V1.tgz", scan_key=f"demo/{upload_id}/attempt-1/x.tgz",
                             candid="300001", pscid="MTL0001", visit_label="V1")
            await tap.publish(LaunchRequested(upload_id=upload_id, attempt=1, scan=scan, requested_by="demo"))
        for upload_id in upload_ids:
            finished = await tap.wait_for(lambda e, u=upload_id: e.upload_id == u and e.type == "pipeline.finished", 30)
            assert finished.succeeded

    rows = await pool.fetch(
        "SELECT extract(epoch FROM started_at) AS s, extract(epoch FROM finished_at) AS f FROM launcher.runs WHERE upload_id = ANY($1)",
        upload_ids,
    )
    assert len(rows) == 5
    assert most_at_once([(float(r["s"]), float(r["f"])) for r in rows]) == 2

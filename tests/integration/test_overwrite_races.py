"""Overwrites race automatic and manual launches, hundreds of times, through
the real gateway, validator and two launchers. Whatever the interleaving:
- never two runs of one upload at the same time;
- never a run of a replaced attempt starting after the replacement's 202;
- never a 202 overwrite while a run of that upload is in progress.

A run lasts from its claim (launcher.runs.started_at) to its end
(finished_at); the pipeline fails, so that each upload may be overwritten
again once its run ended."""

import asyncio
import random
import time
import uuid
from dataclasses import dataclass

import pytest

from services.gateway.__main__ import build_app as build_gateway
from services.launcher.__main__ import build_app as build_launcher
from services.logstore.__main__ import build_app as build_logstore
from services.validator.__main__ import build_app as build_validator
from tests.conftest import DEMO_TOKEN
from tests.integration.helpers import eventually
from tests.support.api import UploaderClient
from tests.support.dicom_archives import make_dicom_archive
from tests.support.inprocess import running_app

UPLOADS = 12
ROUNDS = 12
# A short pipeline that fails, so that the upload may be replaced once it ended.
FAILING_PIPELINE = "sh -c 'sleep 0.03; exit 1'"


@dataclass(frozen=True)
class Overwrite:
    upload_id: int
    attempt: int
    sent: float
    answered: float


@pytest.fixture
async def racing_stack(gateway_settings, logstore_settings, validator_settings, launcher_settings, http, tap):
    launcher = launcher_settings(pipeline_command=FAILING_PIPELINE, max_concurrent_runs=3)
    async with running_app(build_logstore(logstore_settings())) as logstore_url, \
            running_app(build_validator(validator_settings())), \
            running_app(build_launcher(launcher)), running_app(build_launcher(launcher)):
        gateway = gateway_settings(logstore_url=logstore_url, auto_launch=True)
        async with running_app(build_gateway(gateway)) as gateway_url:
            yield UploaderClient(http, gateway_url, DEMO_TOKEN)


async def test_overwrites_racing_launches_never_run_two_attempts_or_replace_a_running_one(racing_stack, tmp_path, pool):
    client = racing_stack
    names = [f"MTL0001_300001_V1_race{uuid.uuid4().hex[:6]}.tgz" for _ in range(UPLOADS)]
    paths = [make_dicom_archive(tmp_path / name, "MTL0001_300001_V1", n_files=1) for name in names]

    results = await asyncio.gather(*(race_one_upload(client, path) for path in paths))
    upload_ids = [upload_id for upload_id, _ in results]
    overwrites = [overwrite for _, accepted in results for overwrite in accepted]
    runs = await all_runs_ended(pool, upload_ids)

    assert len(overwrites) >= UPLOADS * 2, f"too few overwrites were accepted to prove anything: {len(overwrites)}"
    # Most overwrites win before their attempt is granted a run; 20 to 40 runs is usual.
    assert len(runs) >= UPLOADS, f"too few runs to prove anything: {len(runs)}"
    for upload_id in upload_ids:
        mine = sorted((run for run in runs if run["upload_id"] == upload_id), key=lambda run: run["started"])
        for earlier, later in zip(mine, mine[1:]):
            assert earlier["finished"] <= later["started"], f"two runs of upload {upload_id} overlap: {earlier} {later}"
    for overwrite in overwrites:
        for run in runs:
            if run["upload_id"] != overwrite.upload_id:
                continue
            assert not (run["attempt"] < overwrite.attempt and run["started"] > overwrite.answered), (
                f"a run of replaced attempt {run['attempt']} started after attempt {overwrite.attempt}'s 202")
            assert not (run["started"] < overwrite.sent and run["finished"] > overwrite.answered), (
                f"overwrite to attempt {overwrite.attempt} got a 202 while run {run} was in progress")


async def race_one_upload(client: UploaderClient, path) -> tuple[int, list[Overwrite]]:
    first = await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1")
    assert first.status == 202, await first.text()
    upload_id = (await first.json())["upload_id"]
    accepted = []
    for _ in range(ROUNDS):
        await asyncio.sleep(random.uniform(0, 0.05))
        attempts = [overwrite(client, path, upload_id) for _ in range(3)] + [launch(client, upload_id) for _ in range(2)]
        random.shuffle(attempts)
        accepted += [result for result in await asyncio.gather(*attempts) if result is not None]
    return upload_id, accepted


async def overwrite(client: UploaderClient, path, upload_id: int) -> Overwrite | None:
    sent = time.time()
    answer = await client.upload(path, candid="300001", pscid="MTL0001", visit_label="V1", overwrite=True)
    answered = time.time()
    if answer.status == 202:
        body = await answer.json()
        assert body["upload_id"] == upload_id
        return Overwrite(upload_id, body["attempt"], sent, answered)
    assert answer.status == 409, await answer.text()
    assert (await answer.json())["error"]["code"] in ("cannot_overwrite", "already_uploaded")
    return None


async def launch(client: UploaderClient, upload_id: int) -> None:
    answer = await client.launch(upload_id)
    assert answer.status in (202, 409), await answer.text()


async def all_runs_ended(pool, upload_ids: list[int]) -> list[dict]:
    async def ended():
        rows = await pool.fetch(
            """SELECT upload_id, attempt, state, extract(epoch FROM started_at) AS started,
                      extract(epoch FROM finished_at) AS finished
               FROM launcher.runs WHERE upload_id = ANY($1)""",
            upload_ids,
        )
        if any(row["state"] in ("queued", "running") for row in rows):
            return None
        return [{**row, "started": float(row["started"]), "finished": float(row["finished"])}
                for row in rows if row["started"] is not None]

    return await eventually(ended, timeout=60, what="every run ending")

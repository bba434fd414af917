"""Which launchers are alive (services/launcher/presence.py), as the status
page reads it from the operations.launchers view: a launcher is listed from
its start, beats, and is gone when it stops; one silent for three of its
heartbeats is no longer alive, and is forgotten at the next beat."""

import uuid

from services.common.app_keys import REPLICA
from services.launcher.__main__ import build_app as build_launcher
from services.launcher.presence import beat, leave
from tests.integration.helpers import eventually
from tests.support.inprocess import running_app

ALIVE = "SELECT replica, alive_since, beat_at, slots, runs_in_flight FROM operations.launchers WHERE replica = $1"


async def test_a_launcher_is_alive_from_its_start_beats_and_is_gone_when_it_stops(launcher_settings, pool):
    launcher = build_launcher(launcher_settings(heartbeat_seconds=0.2, max_concurrent_runs=3))
    async with running_app(launcher):
        replica = launcher[REPLICA]
        first = await pool.fetchrow(ALIVE, replica)
        assert first is not None, "the launcher did not register at its start"
        assert (first["slots"], first["runs_in_flight"]) == (3, 0)

        async def beat_again():
            row = await pool.fetchrow(ALIVE, replica)
            return row if row["beat_at"] > first["beat_at"] else None

        later = await eventually(beat_again, timeout=5, what="the launcher's next beat")
        assert later["alive_since"] == first["alive_since"]

    assert await pool.fetchval("SELECT count(*) FROM launcher.launchers WHERE replica = $1", replica) == 0


async def test_a_launcher_silent_for_three_heartbeats_is_not_alive_and_is_forgotten_at_the_next_beat(pool):
    ghost, other = f"ghost-{uuid.uuid4().hex[:6]}", f"other-{uuid.uuid4().hex[:6]}"
    await beat(pool, ghost, slots=2, heartbeat_seconds=10)

    await pool.execute("UPDATE launcher.launchers SET beat_at = now() - interval '29 seconds' WHERE replica = $1", ghost)
    assert await pool.fetchrow(ALIVE, ghost) is not None, "silent for less than 3 beats, it is still alive"
    await pool.execute("UPDATE launcher.launchers SET beat_at = now() - interval '31 seconds' WHERE replica = $1", ghost)
    assert await pool.fetchrow(ALIVE, ghost) is None, "silent for more than 3 beats, it is still listed as alive"

    await beat(pool, other, slots=1, heartbeat_seconds=10)
    try:
        assert await pool.fetchval("SELECT count(*) FROM launcher.launchers WHERE replica = $1", ghost) == 0
    finally:
        await leave(pool, other)


async def test_runs_in_flight_are_the_running_runs_the_launcher_owns(pool):
    replica = f"counted-{uuid.uuid4().hex[:6]}"
    await beat(pool, replica, slots=4, heartbeat_seconds=10)
    base = uuid.uuid4().int % 10**9 + 10**9
    states = ("running", "running", "queued", "succeeded")
    try:
        for offset, state in enumerate(states):
            await pool.execute(
                """INSERT INTO launcher.runs (upload_id, attempt, scan, state, owner, heartbeat_at)
                   VALUES ($1, 1, '{}', $2, $3, now())""", base + offset, state, replica)
        assert (await pool.fetchrow(ALIVE, replica))["runs_in_flight"] == 2
    finally:
        await pool.execute("DELETE FROM launcher.runs WHERE upload_id >= $1 AND upload_id < $2", base, base + 4)
        await leave(pool, replica)

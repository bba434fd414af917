-- Which launchers are alive. Each launcher writes its own row: at start, at
-- every heartbeat, and it deletes it when it stops cleanly (services/launcher/presence.py).
CREATE TABLE launcher.launchers (
    replica           text PRIMARY KEY,
    alive_since       timestamptz NOT NULL DEFAULT now(),
    beat_at           timestamptz NOT NULL DEFAULT now(),
    heartbeat_seconds double precision NOT NULL,
    slots             integer NOT NULL
);

-- What operators read: views over the services' schemas, so that the
-- gateway's status page reads one stable contract and no service's tables.
CREATE SCHEMA IF NOT EXISTS operations;

-- The launchers alive (a beat within 3 of their heartbeats: a launcher
-- silent for longer is dead, and its runs are failed as abandoned), each
-- with its pipeline runs in flight.
CREATE VIEW operations.launchers AS
SELECT l.replica, l.alive_since, l.beat_at, l.slots,
       (SELECT count(*) FROM launcher.runs r WHERE r.state = 'running' AND r.owner = l.replica) AS runs_in_flight
FROM launcher.launchers l
WHERE l.beat_at > now() - make_interval(secs => 3 * l.heartbeat_seconds);

-- Each service's events written but not yet published (published_at NULL),
-- and how long the oldest of them has waited (NULL when none waits).
CREATE VIEW operations.outbox_backlog AS
SELECT 'gateway' AS service, count(*) AS backlog,
       extract(epoch FROM now() - min(created_at))::double precision AS oldest_seconds
FROM gateway.outbox WHERE published_at IS NULL
UNION ALL
SELECT 'validator', count(*), extract(epoch FROM now() - min(created_at))::double precision
FROM validator.outbox WHERE published_at IS NULL
UNION ALL
SELECT 'launcher', count(*), extract(epoch FROM now() - min(created_at))::double precision
FROM launcher.outbox WHERE published_at IS NULL
UNION ALL
SELECT 'logstore', count(*), extract(epoch FROM now() - min(created_at))::double precision
FROM logstore.outbox WHERE published_at IS NULL;

"""`honcho start`, with one change: when a service exits on its own, honcho
sends SIGTERM to the others and, instead of killing them 5 seconds later, waits
the launcher's shutdown grace plus 30 seconds for them to stop.

A launcher lets its running pipelines finish for UPLOADER_SHUTDOWN_GRACE_SECONDS
(its settings give the default), then stops them and records the runs as interrupted. Killed
after 5 seconds, it would leave its pipelines running on their own and their
runs "running" until another launcher fails them as abandoned. (On Ctrl-C or
SIGTERM honcho already waits for every service, however long it takes.)

    python scripts/start_procfile.py [honcho start's arguments...]
"""

import sys

import honcho.manager
from honcho.command import main

from services.common.settings import LauncherSettings

MARGIN_SECONDS = 30


def stop_timeout_seconds() -> float:
    return LauncherSettings().shutdown_grace_seconds + MARGIN_SECONDS


if __name__ == "__main__":
    # honcho 2.0's Manager.loop() reads this module constant each time it checks on the stopping services.
    honcho.manager.KILL_WAIT = stop_timeout_seconds()
    main(["start", *sys.argv[1:]])

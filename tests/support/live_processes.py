"""Which processes live, read from /proc: to check that nothing of a pipeline
outlived its run (zombies are left aside: they run nothing)."""

import os


def _state_and_group(pid: int) -> tuple[str, int] | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[2])


def is_alive(pid: int) -> bool:
    found = _state_and_group(pid)
    return found is not None and found[0] not in ("Z", "X")


def live_members_of_group(group: int) -> list[int]:
    """The live processes of a process group (a pipeline's guard leads its run's group)."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _state_and_group(int(entry))
            if found is not None and found[0] not in ("Z", "X") and found[1] == group:
                members.append(int(entry))
    return members

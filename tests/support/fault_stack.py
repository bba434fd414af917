"""The four services as processes that a fault test kills (SIGKILL) and starts again while uploads flow,
with more replicas of a worker when asked ("launcher.2": its own health port and replica name).

Unlike ProcfileStack (honcho stops every service when one exits), each process here is on its own:
killing one leaves the others running, as in a deployment where each service is restarted alone.
"""

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.stack import REPO_ROOT, SERVICES, ServiceStack, free_port

PORT_VARIABLES = {"validator": "UPLOADER_VALIDATOR_PORT", "launcher": "UPLOADER_LAUNCHER_PORT"}


class FaultStack(ServiceStack):
    def __init__(self, env: dict[str, str], log_dir: Path, replicas: tuple[str, ...] = ()) -> None:
        """`replicas` names extra worker processes, e.g. ("launcher.2",)."""
        super().__init__(env, log_dir, SERVICES + replicas)
        for name in replicas:
            if name.split(".")[0] not in PORT_VARIABLES:
                raise ValueError(f"only validators and launchers have replicas, not {name}")
            self.ports[name] = free_port()

    def start_service(self, name: str) -> None:
        service = name.split(".")[0]
        own = {"UPLOADER_REPLICA": name}
        if service in PORT_VARIABLES:
            own[PORT_VARIABLES[service]] = str(self.ports[name])
        with open(self.log_dir / f"{name}.log", "ab") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", f"services.{service}"],
                cwd=REPO_ROOT, env={**os.environ, **self.env, **own}, stdout=log, stderr=subprocess.STDOUT,
            )

    def pid(self, name: str) -> int:
        return self.processes[name].pid

    def owns(self, name: str, launcher: str | None) -> bool:
        """Whether a run's launcher (its replica name, "launcher.2:pid:tag") is this process."""
        return launcher is not None and launcher.startswith(f"{name}:{self.pid(name)}:")

    async def kill(self, name: str) -> None:
        """SIGKILL: no shutdown, no cleanup, as a crash or the OOM killer."""
        await asyncio.to_thread(self.stop_service, name, signal.SIGKILL, 10)

    async def restart(self, name: str) -> None:
        """Start it again and wait until it is ready."""
        self.start_service(name)
        await asyncio.to_thread(self.wait_healthy, name)

    async def ensure_running(self) -> None:
        """Start again whatever an earlier test left stopped."""
        for name in self.services:
            if name not in self.processes or self.processes[name].poll() is not None:
                self.processes.pop(name, None)
                await self.restart(name)

"""Running services as real processes, the way `make run` does, for end-to-end tests."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tests.support.processes import Started, stop_process, wait_until_ready

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("logstore", "validator", "launcher", "gateway")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def own_ports() -> dict[str, str]:
    """The settings that put a stack on free ports of its own (the services' ports, and the logstore's URL)."""
    ports = {name: free_port() for name in ("GATEWAY", "LOGSTORE", "VALIDATOR", "LAUNCHER")}
    return {"UPLOADER_LOGSTORE_URL": f"http://127.0.0.1:{ports['LOGSTORE']}",
            **{f"UPLOADER_{name}_PORT": str(port) for name, port in ports.items()}}


class ServiceStack(Started):
    def __init__(self, env: dict[str, str], log_dir: Path, services: tuple[str, ...] = SERVICES) -> None:
        # Free ports taken now, as the stack is made, unless `env` names its own: ports chosen long before would
        # meanwhile be free for anything else on the machine to listen on (a proxy, a private RabbitMQ).
        env = {**own_ports(), **env}
        self.env = env
        self.log_dir = log_dir
        self.services = services
        self.ports = {
            "gateway": int(env["UPLOADER_GATEWAY_PORT"]),
            "logstore": int(env["UPLOADER_LOGSTORE_PORT"]),
            "validator": int(env["UPLOADER_VALIDATOR_PORT"]),
            "launcher": int(env["UPLOADER_LAUNCHER_PORT"]),
        }
        self.processes: dict[str, subprocess.Popen] = {}

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def start(self) -> None:
        for name in self.services:
            self.start_service(name)
        for name in self.services:
            self.wait_healthy(name)

    def start_service(self, name: str) -> None:
        log = open(self.log_dir / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            cwd=REPO_ROOT,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_healthy(self, name: str, timeout: float = 60) -> None:
        wait_until_ready(name, self.processes[name], f"http://127.0.0.1:{self.ports[name]}/readyz",
                         lambda: self.log_tail(name), timeout)

    def stop_service(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        process = self.processes.pop(name)
        if not stop_process(process, timeout, sig):
            raise RuntimeError(f"{name} did not stop within {timeout} s after signal {sig}")
        return process.returncode

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            try:
                self.stop_service(name)
            except RuntimeError:
                pass

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

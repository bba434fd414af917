"""The services started as `make run` starts them: honcho on the repository's
Procfile (through scripts/start_procfile.py), with replicas, in a test's
environment (its database, vhost and ports)."""

import os
import random
import socket
import subprocess
import sys
from pathlib import Path

from honcho.environ import expand_processes, parse_procfile

from tests.support.processes import Started, stop_process, wait_until_ready
from tests.support.stack import REPO_ROOT, own_ports

PROCFILE = REPO_ROOT / "Procfile"
START_PROCFILE = REPO_ROOT / "scripts" / "start_procfile.py"


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def replica_ports(concurrency: dict[str, int], base_port: int) -> dict[str, int]:
    """Each validator's and launcher's health port, by its honcho name, as honcho assigns them."""
    processes = parse_procfile(PROCFILE.read_text()).processes
    expanded = expand_processes(processes, concurrency=concurrency, port=base_port)
    return {p.name: int(p.env["PORT"]) for p in expanded if p.name.startswith(("validator.", "launcher."))}


def free_base_port(concurrency: dict[str, int]) -> int:
    """A base port whose replica ports (base + 100 x line + replica) are all free, below Linux's ephemeral range."""
    for _ in range(100):
        base_port = random.randrange(20_000, 30_000)
        if all(port_is_free(port) for port in replica_ports(concurrency, base_port).values()):
            return base_port
    raise RuntimeError("no free block of ports for the replicas")


class ProcfileStack(Started):
    def __init__(self, env: dict[str, str], log_path: Path, concurrency: dict[str, int]) -> None:
        self.env = {**own_ports(), **env}  # ports of its own unless given (see ServiceStack)
        self.log_path = log_path
        self.concurrency = concurrency
        self.base_port = free_base_port(concurrency)
        self.process: subprocess.Popen | None = None

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.env['UPLOADER_GATEWAY_PORT']}"

    def health_ports(self) -> dict[str, int]:
        """Every process's health port, by its honcho name."""
        fixed = {"gateway.1": int(self.env["UPLOADER_GATEWAY_PORT"]),
                 "logstore.1": int(self.env["UPLOADER_LOGSTORE_PORT"])}
        return {**replica_ports(self.concurrency, self.base_port), **fixed}

    def start(self) -> None:
        concurrency = ",".join(f"{name}={n}" for name, n in self.concurrency.items())
        path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # the Procfile's `python`
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(START_PROCFILE), "--procfile", str(PROCFILE), "--env", "/dev/null",
                 "--no-colour", "--port", str(self.base_port), "--concurrency", concurrency],
                cwd=REPO_ROOT, env={**os.environ, **self.env, "PATH": path, "PYTHONUNBUFFERED": "1"},
                stdout=log, stderr=subprocess.STDOUT,
            )
        for name, port in self.health_ports().items():
            self._wait_ready(name, port)

    def stop(self, timeout: float = 60) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        if not stop_process(self.process, timeout):
            raise RuntimeError(f"honcho did not stop within {timeout} s:\n{self.log_tail()}")
        return self.process.returncode

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def _wait_ready(self, name: str, port: int, timeout: float = 60) -> None:
        wait_until_ready(name, self.process, f"http://127.0.0.1:{port}/readyz", self.log_tail, timeout)

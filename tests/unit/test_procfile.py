"""The Procfile that `make run` starts under honcho: every replica has a port of
its own, and honcho gives a stopping launcher the time its pipelines need."""

import os
import subprocess
import sys
import time

from honcho.environ import parse_procfile

from tests.support.procfile_stack import PROCFILE, START_PROCFILE, replica_ports

BASE_PORT = 9000  # scripts/run.sh's default UPLOADER_REPLICA_BASE_PORT
FIXED_PORTS = {8080, 8081}  # the gateway's and the logstore's defaults


def procfile_processes() -> dict[str, str]:
    return parse_procfile(PROCFILE.read_text()).processes


def test_the_procfile_runs_the_four_services():
    processes = procfile_processes()

    assert set(processes) == {"gateway", "logstore", "validator", "launcher"}
    for name, command in processes.items():
        assert f"python -m services.{name}" in command


def test_each_validator_and_launcher_takes_its_port_and_its_name_from_honcho():
    processes = procfile_processes()

    assert "UPLOADER_VALIDATOR_PORT=$PORT" in processes["validator"]
    assert "UPLOADER_LAUNCHER_PORT=$PORT" in processes["launcher"]
    for command in processes.values():
        assert "UPLOADER_REPLICA=$HONCHO_PROCESS_NAME" in command


def test_replicas_get_the_ports_run_sh_announces_and_none_is_the_gateways_or_the_logstores():
    ports = replica_ports({"validator": 2, "launcher": 3}, BASE_PORT)

    assert ports == {"validator.1": BASE_PORT, "validator.2": BASE_PORT + 1,
                     "launcher.1": BASE_PORT + 100, "launcher.2": BASE_PORT + 101, "launcher.3": BASE_PORT + 102}
    assert FIXED_PORTS.isdisjoint(ports.values())


def test_when_a_service_exits_honcho_gives_the_others_more_than_its_own_five_seconds_to_stop(tmp_path):
    """A launcher may take its shutdown grace to stop; honcho alone kills the others 5 s after one exits."""
    procfile = tmp_path / "Procfile"
    slow_stop = ("import signal, sys, time; "
                 "signal.signal(signal.SIGTERM, lambda *_: (time.sleep(6), sys.exit(0))); time.sleep(120)")
    procfile.write_text(f'slow: exec {sys.executable} -c "{slow_stop}"\nquitter: sleep 1; exit 3\n')
    started = time.monotonic()

    finished = subprocess.run(
        [sys.executable, str(START_PROCFILE), "--procfile", str(procfile), "--env", "/dev/null", "--no-colour"],
        env={**os.environ, "UPLOADER_SHUTDOWN_GRACE_SECONDS": "1"}, capture_output=True, text=True, timeout=60,
    )

    assert time.monotonic() - started >= 6
    assert "quitter.1 stopped (rc=3)" in finished.stdout, finished.stdout
    assert "slow.1 stopped (rc=0)" in finished.stdout, finished.stdout
    assert "SIGKILL" not in finished.stdout, finished.stdout
    assert finished.returncode == 3

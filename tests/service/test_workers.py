"""`bedboard serve --workers 2`: two processes on one port, supervised, stopped together.

The real command, with its own embedded PostgreSQL. Timeouts are generous (a loaded
2-core machine); nothing here measures speed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.service.test_demo_command import READY_WITHIN_S, _free_port, _get, data_dir

__all__ = ["data_dir"]  # the fixture, shared with test_demo_command
METRICS_TOKEN = "metrics-token-for-the-workers-test"


class Service:
    def __init__(self, data_dir: Path, port: int, workers: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BEDBOARD_")}
        env.update(
            BEDBOARD_DATA_DIR=str(data_dir),
            BEDBOARD_PORT=str(port),
            BEDBOARD_METRICS_TOKEN=METRICS_TOKEN,
        )
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = data_dir / "serve.log"
        self._out = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bedboard.cli", "serve", "--workers", str(workers)],
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def wait_for(self, what: str, check: object) -> None:
        deadline = time.monotonic() + READY_WITHIN_S
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            if check():  # type: ignore[operator]
                return
            time.sleep(0.2)
        raise AssertionError(f"{what} not within {READY_WITHIN_S:.0f} s:\n{self.log.read_text()}")

    def workers(self) -> list[psutil.Process]:
        """The service's worker processes, skipping any child that has just exited.

        Short-lived children (the embedded PostgreSQL's pg_ctl, a killed worker) can be
        zombies for a moment before they are reaped; asking their command line then
        raises, and they are not workers anyway.
        """
        found = []
        for child in psutil.Process(self.proc.pid).children():
            try:
                if "serve" in child.cmdline():
                    found.append(child)
            except psutil.NoSuchProcess:  # includes ZombieProcess
                continue
        return found

    def listening(self) -> set[int]:
        """The worker pids holding a listening socket on the service's port."""
        pids = set()
        for worker in self.workers():
            try:
                sockets = worker.net_connections(kind="tcp")
            except psutil.NoSuchProcess:
                continue
            if any(c.status == psutil.CONN_LISTEN and c.laddr.port == self.port for c in sockets):
                pids.add(worker.pid)
        return pids

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        finally:
            self._out.close()


@pytest.fixture
def service(data_dir: Path) -> Iterator[Service]:
    running = Service(data_dir, _free_port(), workers=2)
    yield running
    if running.proc.poll() is None:
        running.proc.kill()
        running.proc.wait()


@pytest.mark.timeout(3 * READY_WITHIN_S + 60)
def test_two_workers_share_the_port_are_restarted_and_stop_together(
    service: Service, data_dir: Path
) -> None:
    service.wait_for("both workers listening", lambda: len(service.listening()) == 2)
    service.wait_for("ready", lambda: _get(service.base + "/readyz")[0] == 200)
    service.wait_for("the banner", lambda: "with 2 workers" in service.log.read_text())

    # /metrics answers for both workers together, whichever one is asked.
    for _ in range(20):
        assert _get(service.base + "/readyz")[0] == 200
    status, body = _get(
        service.base + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert status == 200
    counted = [
        line
        for line in body.decode().splitlines()
        if line.startswith('bedboard_http_requests_total{method="GET",route="/readyz"')
    ]
    assert counted, body.decode()[:2000]
    assert float(counted[0].rsplit(" ", 1)[1]) >= 21

    # A worker that dies is started again, and the service keeps answering meanwhile.
    before = service.listening()
    victim = psutil.Process(min(before))
    victim.kill()
    service.wait_for(
        "a new worker", lambda: len(service.listening()) == 2 and service.listening() != before
    )
    assert _get(service.base + "/readyz")[0] == 200

    workers = service.workers()
    assert service.stop() == 0
    _, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive
    postgres = [
        p
        for p in psutil.process_iter(["cmdline"])
        if any(str(data_dir) in part for part in (p.info["cmdline"] or []))
    ]
    assert not postgres, "the embedded PostgreSQL outlived the service"


def test_a_worker_count_that_is_not_a_number_is_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bedboard.cli", "serve", "--workers", "many"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "--workers: not a whole number: 'many'" in result.stderr

"""`bedboard demo` on an empty data dir: becomes ready, credentials work, data kept on restart.

This runs the real command with its own embedded PostgreSQL, as a new user would. The
readiness timeout is generous on purpose: on a loaded 2-core machine a cold start once
took 21 s. How long start-up takes is measured by the benchmarks (``python -m bench
--scenarios start``, bench/RESULTS.md), not asserted here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

READY_WITHIN_S = 120.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Short path on purpose: the embedded server's Unix socket lives here.
    path = Path(tempfile.mkdtemp(prefix="bbdemo", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _get(
    url: str, data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""


class Demo:
    def __init__(self, data_dir: Path, port: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BEDBOARD_")}
        env.update(
            BEDBOARD_DATA_DIR=str(data_dir), BEDBOARD_PORT=str(port), BEDBOARD_DEMO_SIMULATE="false"
        )
        self.base = f"http://127.0.0.1:{port}"
        self.log = data_dir / f"demo-{time.monotonic_ns()}.log"
        self._out = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bedboard.cli", "demo"],
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.started = time.monotonic()

    def wait_ready(self) -> float:
        while time.monotonic() - self.started < READY_WITHIN_S:
            assert self.proc.poll() is None, self.log.read_text()
            status, _ = _get(self.base + "/readyz")
            if status == 200:
                return time.monotonic() - self.started
            time.sleep(0.1)
        raise AssertionError(
            f"demo not ready within {READY_WITHIN_S:.0f} s:\n" + self.log.read_text()
        )

    def credentials(self) -> dict[str, tuple[str, str]]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = re.findall(r"^\s+(\w+)\s+(\S+@\S+)\s+(demo-\S+)$", self.log.read_text(), re.M)
            if len(found) == 6:
                return {role: (email, password) for role, email, password in found}
            time.sleep(0.1)
        raise AssertionError("no credentials printed:\n" + self.log.read_text())

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        finally:
            self._out.close()


def _login(base: str, email: str, password: str) -> tuple[int, dict[str, object]]:
    status, body = _get(
        base + "/api/v1/login",
        data=json.dumps({"email": email, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    return status, json.loads(body) if body else {}


def _admin_get(base: str, email: str, password: str, path: str) -> dict[str, object]:
    request = urllib.request.Request(
        base + "/api/v1/login",
        data=json.dumps({"email": email, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        cookie = resp.headers["Set-Cookie"].split(";", 1)[0]
    status, body = _get(base + path, headers={"Cookie": cookie})
    assert status == 200, body
    result: dict[str, object] = json.loads(body)
    return result


def _facility_count(base: str, email: str, password: str) -> int:
    request = urllib.request.Request(
        base + "/api/v1/login",
        data=json.dumps({"email": email, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as resp:
        cookie = resp.headers["Set-Cookie"].split(";", 1)[0]
    status, body = _get(base + "/api/v1/facilities", headers={"Cookie": cookie})
    assert status == 200
    return len(json.loads(body)["items"])


@pytest.mark.timeout(2 * READY_WITHIN_S + 60)
def test_demo_starts_on_an_empty_data_dir_and_keeps_its_data_across_restarts(
    data_dir: Path,
) -> None:
    port = _free_port()
    demo = Demo(data_dir, port)
    try:
        demo.wait_ready()
        creds = demo.credentials()
        assert set(creds) == {"admin", "liaison", "supervisor", "facility", "court", "viewer"}
        status, me = _login(demo.base, *creds["liaison"])
        assert status == 200 and me["role"] == "liaison"
        # The demo supervisor leads one demo region and lists only its placements.
        status, me = _login(demo.base, *creds["supervisor"])
        assert status == 200 and me["role"] == "supervisor"
        listed = _admin_get(demo.base, *creds["supervisor"], "/api/v1/regions")["items"]
        assert isinstance(listed, list)
        (region,) = [r for r in listed if r["id"] == me["region_id"]]
        assert region["name"] == "Central (demo)"
        counties = {c["name"] for c in region["counties"]}
        theirs = _admin_get(demo.base, *creds["supervisor"], "/api/v1/placements")["items"]
        assert isinstance(theirs, list) and theirs
        assert {p["county_name"] for p in theirs} <= counties
        status, _ = _login(demo.base, creds["admin"][0], "wrong password")
        assert status == 401
        facilities = _facility_count(demo.base, *creds["admin"])
        assert 35 <= facilities <= 45
        # One facility fed by each adapter kind; with the simulation off, FHIR and HL7 rest.
        feeds = _admin_get(demo.base, *creds["admin"], "/api/v1/feeds")["items"]
        assert isinstance(feeds, list)
        assert {f["kind"]: f["enabled"] for f in feeds} == {
            "csv": True,
            "have": True,
            "fhir": False,
            "hl7": False,
        }
        placements = _admin_get(demo.base, *creds["admin"], "/api/v1/placements")["items"]
        assert isinstance(placements, list)
        assert {"open", "accepted", "in_transit", "admitted", "closed"} <= {
            p["status"] for p in placements
        }
    finally:
        demo.stop()
    assert demo.proc.returncode == 0, demo.log.read_text()

    again = Demo(data_dir, port)
    try:
        again.wait_ready()
        assert again.credentials() == creds
        status, _ = _login(again.base, *creds["liaison"])
        assert status == 200
        assert _facility_count(again.base, *creds["admin"]) == facilities
    finally:
        again.stop()
    assert "applied migration" not in again.log.read_text()
    assert (data_dir / "pg" / "PG_VERSION").exists()

"""Start and stop the server subprocesses of ``bench.serve`` (loopback only)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 60.0


class ServerProcess:
    """One ``python -m bench.serve`` child; its stderr goes to ``log_path``."""

    def __init__(self, name: str, args: list[str], log_path: Path) -> None:
        self.name = name
        self.args = args
        self.log_path = log_path
        self.port = 0
        self.extra_ports: list[int] = []  # after the HTTP port on the READY line (MLLP)
        self._proc: asyncio.subprocess.Process | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    async def start(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        log = self.log_path.open("ab")
        try:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.serve", *self.args,
                cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=log,
            )  # fmt: skip
        finally:
            log.close()
        assert self._proc.stdout is not None
        try:
            line = await asyncio.wait_for(self._proc.stdout.readline(), START_TIMEOUT_S)
        except TimeoutError:
            line = b""
        text = line.decode().strip()
        if not text.startswith("READY "):
            await self.stop()
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.name} server did not start:\n{tail}")
        fields = text.split()
        self.port = int(fields[1])
        self.extra_ports = [int(f) for f in fields[2:]]

    async def get_json(self, path: str) -> Any:
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.base_url + path) as resp,
        ):
            resp.raise_for_status()
            return await resp.json()

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick


def rss_kib(pid: int) -> int:
    """A process's resident memory now (Linux /proc), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU used by groups of processes, and how busy the machine was, over marked spans."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.servers = groups
        self.totals: dict[str, dict[str, float]] = {}
        self._mark: dict[str, float] = {}
        self._last: dict[int, float] = {}

    def _cpu(self, pid: int) -> float:
        """A process's CPU so far; its last known value once it has exited."""
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            self._last[pid] = cpu_seconds(pid)
        return self._last.get(pid, 0.0)

    def _now(self) -> dict[str, float]:
        busy, total = machine_busy()
        now = {name: sum(self._cpu(pid) for pid in pids) for name, pids in self.servers.items()}
        now["machine_busy"], now["machine_total"] = busy, total
        now["wall_s"] = time.monotonic()
        return now

    def start(self) -> None:
        self._mark = self._now()

    def stop(self, span: str) -> None:
        now = self._now()
        into = self.totals.setdefault(span, {})
        for key, value in now.items():
            into[key] = into.get(key, 0.0) + value - self._mark[key]

    def report(self) -> dict[str, dict[str, float]]:
        """Per span: CPU seconds of each server, and the machine's busy fraction."""
        out = {}
        for span, t in self.totals.items():
            row = {f"{name}_cpu_s": round(t[name], 2) for name in self.servers}
            row["wall_s"] = round(t["wall_s"], 1)
            for name in self.servers:
                row[f"{name}_cores"] = round(t[name] / t["wall_s"], 2) if t["wall_s"] else 0.0
            row["machine_busy_fraction"] = (
                round(t["machine_busy"] / t["machine_total"], 3) if t["machine_total"] else 0.0
            )
            out[span] = row
        return out

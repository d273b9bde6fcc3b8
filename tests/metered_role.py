"""A role as its own process with its Prometheus metrics on a port of its own, and reading one
sample back from such a port."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import free_port, port_is_open

PARTY_ENGINE = str(Path(sys.executable).parent / "party-engine")


async def scrape(metrics_port: int, name: str, **labels: str) -> float | None:
    """The value of the sample `name` with these labels on that /metrics, None if absent."""
    async with httpx.AsyncClient() as http:
        reply = await http.get(f"http://127.0.0.1:{metrics_port}/metrics")
    reply.raise_for_status()
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return None


class MeteredRole:
    """`party-engine <role>` (`serve` for the gateway) on a free port, its metrics on another."""

    def __init__(self, role: str, env: dict[str, str], log_dir: Path) -> None:
        self.role = role
        self.metrics_port = free_port()
        self.port = free_port()
        self.log_path = log_dir / f"{role}.log"
        command = "serve" if role == "gateway" else role
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [PARTY_ENGINE, command],
                env={
                    **os.environ,
                    **env,
                    "PARTY_PORT": str(self.port),
                    "PARTY_METRICS_PORT": str(self.metrics_port),
                },
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait_serving(self, port: int) -> None:
        deadline = time.monotonic() + 30
        while not port_is_open(port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{self.role} is not serving on {port}: see {self.log_path}")
            time.sleep(0.05)  # a port has no event to await

    async def sample(self, name: str, **labels: str) -> float | None:
        return await scrape(self.metrics_port, name, **labels)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            return self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()

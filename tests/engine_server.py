"""`party-engine all` as a real server process for end-to-end tests (browser, WebSocket)."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tests.servers import HOST, ManagedServer

PARTY_ENGINE = Path(sys.executable).with_name("party-engine")
# A test-only HS256 secret (32+ characters, as the settings require).
TEST_JWT_SECRET = "test-only-secret-for-end-to-end-tests-0123456789"


class EngineServer(ManagedServer):
    """Every role in one process, on the embedded (memory://) backends, on a free port."""

    name = "party-engine"
    startup_timeout = 30.0

    def __init__(self, *, settings: dict[str, str] | None = None) -> None:
        """`settings`: extra PARTY_* variables, e.g. {"PARTY_HISTORY_SIZE": "10"}."""
        super().__init__()
        self.settings = settings or {}

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def command(self) -> list[str]:
        return [str(PARTY_ENGINE), "all"]

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PARTY_HOST": HOST,
            "PARTY_PORT": str(self.port),
            "PARTY_JWT_SECRET": TEST_JWT_SECRET,
            "PARTY_REDIS_URL": "memory://",
            "PARTY_AMQP_URL": "memory://",
            "PARTY_PUSH_URL": "memory://",
            "PARTY_LOG_LEVEL": "warning",
            **self.settings,
        }

    def probe(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=0.5) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

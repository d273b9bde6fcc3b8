"""The `party-engine` console script.

A SIGTERM that arrives before a role has set up its own stop (an orchestrator scaling down a
process that is still importing) ends the process cleanly, with exit code 0: nothing is held
yet. The handler is in place before the heavy imports; each role replaces it with its own."""

import signal
import sys
from types import FrameType


def _stop_before_start(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


def main() -> None:
    signal.signal(signal.SIGTERM, _stop_before_start)
    from .cli import main as run_cli  # imported after the handler: this is the slow part

    run_cli()

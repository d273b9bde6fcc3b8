"""Where a benchmark's figures come from. Every result file starts with one block from
provenance(): the commit measured (marked +dirty when the tree had changes), the machine, when,
and the command that reproduces it."""

import os
import platform
import shlex
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent


def _git(*arguments: str) -> str:
    return subprocess.run(
        ["git", *arguments], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def commit() -> str:
    try:
        head, dirty = _git("rev-parse", "--short", "HEAD"), _git("status", "--porcelain")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def machine() -> dict[str, Any]:
    return {
        "node": platform.node(),
        "cpus": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def provenance(module: str, argv: list[str]) -> dict[str, Any]:
    """The block for a result file of `python -m <module> <argv...>`."""
    return {
        "commit": commit(),
        "machine": machine(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join(["python", "-m", module, *argv]),
    }

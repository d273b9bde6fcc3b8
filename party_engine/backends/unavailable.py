"""Which errors mean "a backend cannot be reached right now": the caller answers `unavailable`
(an HTTP 503 problem, a WebSocket `error` frame) rather than failing as a bug.

A client library's errors are listed only once it is loaded (the engine opens the backends
first): a library this process never imported (memory:// backends) cannot raise, and is not
imported here for nothing."""

import sys

from ..ports import BackendUnavailable

# Module, then the names in it of the errors that mean the server is out of reach.
_LIBRARY_ERRORS = {
    # OutOfMemoryError: a full Redis (maxmemory, noeviction) refusing writes; ReadOnlyError and
    # BusyLoadingError: a replica promoted or a restarted server still loading its data.
    "redis.exceptions": (
        "ConnectionError",
        "TimeoutError",
        "OutOfMemoryError",
        "ReadOnlyError",
        "BusyLoadingError",
        # A Redis Cluster between masters (a failover, a resharding): ClusterDownError (and its
        # MasterDownError), TRYAGAIN, a slot no master serves yet, redirections exhausted.
        "ClusterDownError",
        "TryAgainError",
        "SlotNotCoveredError",
        "ClusterError",
    ),
    "aiormq.exceptions": ("AMQPConnectionError", "ChannelInvalidStateError"),
    "botocore.exceptions": ("ConnectionError", "HTTPClientError"),
}


def unavailable_errors() -> tuple[type[Exception], ...]:
    """The error types of the backends loaded so far that mean "unavailable"."""
    found: list[type[Exception]] = [BackendUnavailable, ConnectionError, TimeoutError]
    for module_name, names in _LIBRARY_ERRORS.items():
        if (module := sys.modules.get(module_name)) is not None:
            found.extend(getattr(module, name) for name in names)
    return tuple(found)

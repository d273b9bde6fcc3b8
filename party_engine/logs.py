"""What the engine's processes log, how, and what they must never log.

Every line goes through one handler on the root logger (uvicorn's access and error loggers
propagate to it): JSON lines (`PARTY_LOG_FORMAT=json`, what the Dockerfile, compose and the
Kubernetes manifests set) or readable ones (`console`, the default of `make run`), rendered
by structlog's `ProcessorFormatter` for the standard library's records. Each line carries the
WebSocket connection id and the party id of the frame in hand where there is one: the gateway
sets them once per connection and once per frame (`bind_connection`, `bind_party`), in the
connection's own task, so they never leak into another connection's lines.

Mobile clients authenticate the WebSocket with `/ws?token=<JWT>`, and uvicorn writes the path
with its query string into its access and WebSocket log lines. A token in a log is a
credential in every log pipeline downstream, so every record goes through `SecretFilter`: the
query string of `/ws` is dropped, and any `token=` or `ticket=` value elsewhere is replaced.
"""

import logging
import re
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any, Literal

import structlog

LogFormat = Literal["json", "console"]

_SECRET_PARAM = re.compile(r"\b(token|ticket|access_token)=[^&\s\"']*", re.IGNORECASE)
_WS_QUERY = re.compile(r"(/ws)\?[^\s\"']*")
# uvicorn's loggers: the WebSocket handshake lines go to uvicorn.error, HTTP ones to .access.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")

# Plain context variables rather than structlog's bind_contextvars: a frame sets one with a
# single ContextVar.set, and only the formatter (when a line is written) reads them.
_connection: ContextVar[str | None] = ContextVar("log_connection", default=None)
_party: ContextVar[str | None] = ContextVar("log_party", default=None)


def bind_connection(connection_id: str) -> None:
    """Name the WebSocket connection in every line the current task logs from now on."""
    _connection.set(connection_id)


def bind_party(party_id: str | None) -> None:
    """Name the party of the frame in hand (None: the frame names no party)."""
    _party.set(party_id)


def redact(text: str) -> str:
    return _SECRET_PARAM.sub(r"\1=[redacted]", _WS_QUERY.sub(r"\1", text))


class SecretFilter(logging.Filter):
    """Rewrites a record's message and string arguments without secrets; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def _add_context(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    party = _party.get()
    if party is not None:
        event["party"] = party
    connection = _connection.get()
    if connection is not None:
        event["connection"] = connection
    return event


def formatter(log_format: LogFormat) -> logging.Formatter:
    """structlog's formatter for standard-library records, in the given format."""
    renderer: Any
    if log_format == "json":
        renderer = structlog.processors.JSONRenderer()
        finish: list[Any] = [
            structlog.processors.EventRenamer("message"),
            structlog.processors.format_exc_info,
        ]
    else:
        # Plain tracebacks: structlog would use rich's when installed, which are slow to
        # render and print local variables (a token among them).
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stderr.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
        finish = []
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            _add_context,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *finish,
            renderer,
        ],
    )


def configure_logging(level: str, log_format: LogFormat) -> None:
    """One handler on the root logger for every line of the process, uvicorn's included
    (run uvicorn with `log_config=None` so that it keeps this)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    handler.addFilter(SecretFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True

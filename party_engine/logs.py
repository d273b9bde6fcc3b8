"""What the engine's processes log, and what they must never log.

Mobile clients authenticate the WebSocket with `/ws?token=<JWT>`, and uvicorn writes the path
with its query string into its access and WebSocket log lines. A token in a log is a
credential in every log pipeline downstream, so every uvicorn record goes through
`SecretFilter`: the query string of `/ws` is dropped, and any `token=` or `ticket=` value
elsewhere is replaced.
"""

import logging
import re

_SECRET_PARAM = re.compile(r"\b(token|ticket|access_token)=[^&\s\"']*", re.IGNORECASE)
_WS_QUERY = re.compile(r"(/ws)\?[^\s\"']*")
# uvicorn's loggers: the WebSocket handshake lines go to uvicorn.error, HTTP ones to .access.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


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


def keep_secrets_out_of_uvicorn_logs() -> None:
    """Install the filter on uvicorn's loggers (after uvicorn configured its logging)."""
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, SecretFilter) for f in logger.filters):
            logger.addFilter(SecretFilter())

"""Errors the domain raises; the API and the gateway translate them to their wire forms."""


class DomainError(Exception):
    """A rule of the domain was broken by the caller's request."""

    code = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    code = "not_found"


class Forbidden(DomainError):
    code = "forbidden"


class InvalidTransition(DomainError):
    code = "invalid_transition"


class InvalidValue(DomainError):
    """A value is well-formed but breaks a rule; `field` names it for the caller, and
    `location` where it was sent (body, query or path)."""

    code = "invalid_value"

    def __init__(self, message: str, field: str | None = None, location: str = "body") -> None:
        super().__init__(message)
        self.field = field
        self.location = location


class Conflict(DomainError):
    """Someone else changed the record first; the caller may re-read and retry."""

    code = "conflict"

"""Identifiers: short, URL-safe, unguessable."""

import secrets


def new_id() -> str:
    return secrets.token_urlsafe(12)

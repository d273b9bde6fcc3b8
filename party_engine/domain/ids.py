"""Identifiers: short, URL-safe, unguessable."""

import secrets

# What every id the engine hands out matches (token_urlsafe's alphabet), and what every id it
# is given must match: ids become parts of Redis keys, so "a:subs" must never name a key.
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


def new_id() -> str:
    return secrets.token_urlsafe(12)

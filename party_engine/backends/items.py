"""Stream items: compact JSON objects whose first keys are spliced in front without decoding.

The Redis broker does the same splice in Lua (lua/publish_share.lua, lua/publish_like.lua).
"""


def check_item(item: bytes) -> None:
    """A cheap shape check (the gateway encodes items itself; this catches misuse, not users)."""
    if not (item.startswith(b"{") and item.endswith(b"}")):
        raise ValueError("a stream item must be a compact JSON object")


def splice_front(item: bytes, fields: list[tuple[str, int]]) -> bytes:
    """`{"a":1}` with [("offset", 7)] -> `{"offset":7,"a":1}`."""
    head = ",".join(f'"{name}":{value}' for name, value in fields).encode()
    rest = item[1:]
    return b"{" + head + (rest if rest == b"}" else b"," + rest)

"""How far the event queue backends' publish buffers may fill (shared by both)."""


def hard_limit(capacity: int) -> int:
    """How far past `capacity` publish() still accepts (gateways check has_room() first and
    may overshoot it a little while many sessions publish at once)."""
    return capacity + max(64, capacity // 10)

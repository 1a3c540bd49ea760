"""Ids as a browser sends them (any JSON may arrive): a short decimal string or an int, else None. The service
checks the id again (scope, existence); this only keeps junk out of the call."""


def browser_id(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and len(value) <= 18:
        return int(value)
    return None

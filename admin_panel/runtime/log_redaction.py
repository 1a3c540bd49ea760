"""Keep the tokens that identify a browser out of the server's logs.

Reflex logs a failed event with its router data, which holds the tab's client token (the key of its server-side
state), and event payloads, which can hold the Steward session token from browser storage. Anyone who reads the
logs could replay them (the guard binds a state to the connection that proved its session, but a log should not
hand out either token). Every log record of the process passes through `redact` before any handler sees it:
UUIDs (client tokens) and the value of any `…token_rx_state_` storage var become `[redacted]`, in the message
and in the traceback text.
"""

import logging
import re
import traceback

REDACTED = "[redacted]"
_UUID = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
_STORAGE_VAR = re.compile(r"""(token_rx_state_['"]?\s*[:=]\s*['"]?)[^'",}\s]+""")
_installed = False


def redact(text: str) -> str:
    return _STORAGE_VAR.sub(lambda m: m.group(1) + REDACTED, _UUID.sub(REDACTED, text))


def _scrub(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 — a malformed record is left for logging's own error report
        return
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))


def install() -> None:
    """Scrub every record made from now on in this process (idempotent)."""
    global _installed
    if _installed:
        return
    make = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = make(*args, **kwargs)
        _scrub(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True

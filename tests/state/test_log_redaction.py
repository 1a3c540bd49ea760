"""No client token (UUID) and no session token from browser storage reaches a log handler."""

import logging

from admin_panel.runtime import log_redaction
from admin_panel.runtime.guard import AuthState

CLIENT = "ce93d910-bcc0-463a-bec3-cf6a46871156"
SESSION = "JYzp5Q1gUbyQgmDAY4Tqg6bv9eV5VFQcmr4hxlST_bg"


def test_messages_arguments_and_tracebacks_are_scrubbed(caplog):
    log_redaction.install()
    log = logging.getLogger("reflex_base.event.processor.event_processor")
    router = {"sid": "7e-izMhg", "token": CLIENT}
    payload = {"vars": {f"{AuthState.get_full_name()}.token_rx_state_": SESSION}}
    with caplog.at_level(logging.INFO):
        log.error("Error processing event queue entry for Event(router_data=%s, payload=%s)", router, payload)
        try:
            raise KeyError(f"no handler for tab {CLIENT}")
        except KeyError:
            log.exception("failed")
        logging.getLogger("steward.mail").warning("Open this link: %s", "http://localhost:3000/reset-password?token=abc")
    text = caplog.text
    assert CLIENT not in text and SESSION not in text
    assert text.count(log_redaction.REDACTED) == 3 and "7e-izMhg" in text
    # the mail fallback's links stay (docs/configuration.md: no SMTP → the log)
    assert "reset-password?token=abc" in text

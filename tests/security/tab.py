"""A browser tab over the raw socket: hydrate with a Steward session token in browser storage (as the
frontend does: client-storage vars ride in the `hydrate_and_load` boot event), then call handlers one by
one, each followed by a sentinel so that every answer is attributed to the call that caused it."""

from __future__ import annotations

from typing import Any

from .registry import HYDRATE, ROOT_STATE, SENTINEL, UPDATE_VARS
from .sio import RawSocket, Update

HYDRATED = "is_hydrated_rx_state_"


def token_key() -> str:
    """The fully qualified name of `AuthState.token`, the LocalStorage var `steward_session`."""
    from admin_panel.runtime.guard import AuthState

    return f"{AuthState.get_full_name()}.token_rx_state_"


def device_key() -> str:
    """The fully qualified name of `AuthState.device`, the trusted-browser token `steward_device`."""
    from admin_panel.runtime.guard import AuthState

    return f"{AuthState.get_full_name()}.device_rx_state_"


class Tab:
    def __init__(self, base_url: str, token: Any = None, *, router_path: str = "/security-probe",
                 client_token: str | None = None, device: str | None = None):
        self.sock = RawSocket(base_url, router_path=router_path)
        if client_token:  # the same browser tab reconnecting (its client token survives in session storage)
            self.sock.client_token = client_token
        self.flip = True
        self.calls = 0
        vars_ = {} if token is None else {token_key(): token}
        if device is not None:  # a browser that signed in fully before keeps its trusted-browser token
            vars_[device_key()] = device
        self.sock.connect({"name": HYDRATE, "payload": {"vars": vars_}})
        self.hydration = self.sock.receive_until(lambda u: u.delta.get(ROOT_STATE, {}).get(HYDRATED) is True)

    def __enter__(self) -> Tab:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def _is_sentinel(self, u: Update) -> bool:
        return u.delta.get(ROOT_STATE, {}).get(HYDRATED) is self.flip

    def barrier(self) -> list[Update]:
        """Everything the server sent before the sentinel's answer, which must be exactly the flipped flag:
        anything else in it is a state change that slipped out of an earlier call."""
        self.flip = not self.flip
        self.sock.emit(SENTINEL, {"value": self.flip})
        got = self.sock.receive_until(self._is_sentinel)
        sentinel = got.pop()
        assert sentinel.delta == {ROOT_STATE: {HYDRATED: self.flip}} and not sentinel.events, (
            f"state changed outside the sentinel's own var: {sentinel}")
        return got

    def call(self, name: str, payload: Any = None) -> list[Update]:
        """Send one event; return every update it caused."""
        self.calls += 1
        self.sock.emit(name, payload)
        return self.barrier()

    def call_many(self, name: str, payloads: list[Any]) -> list[Update]:
        """Send the events back to back, then one sentinel: events of one tab are processed in order, so the
        answers come in the order of the calls (a denial answers with exactly one update)."""
        for payload in payloads:
            self.calls += 1
            self.sock.emit(name, payload)
        return self.barrier()

    def set_token(self, token: Any) -> None:
        """What the frontend sends when local storage changes: `update_vars_internal`."""
        self.sock.emit(UPDATE_VARS, {"vars": {token_key(): token}})
        self.barrier()

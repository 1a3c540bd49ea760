"""A raw Socket.IO client for Reflex's event endpoint, spoken by hand over a plain websocket.

No browser and no socket.io library: Engine.IO v4 (`0` open, `2`/`3` ping/pong, `4` message) carrying
Socket.IO v5 packets (`0` connect, `2` event) on Reflex's namespace `/_event`, at
`ws://host:port/_event/?EIO=4&transport=websocket&token=<tab token>` — what the compiled frontend
(`reflex_base/.templates/web/utils/state.js`) sends, reproduced from its source. The websocket framing is
`simple_websocket` (a dependency of python-engineio, so it is in the venv with Reflex).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import simple_websocket

NAMESPACE = "/_event"
EVENT = "event"


@dataclass
class Update:
    """One `event` packet the server sent: a state delta and frontend events (e.g. `_redirect`)."""

    delta: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def redirects(self) -> list[str]:
        return [e.get("payload", {}).get("path") for e in self.events if e.get("name") == "_redirect"]


class ProtocolError(AssertionError):
    pass


class RawSocket:
    """One browser tab: a fresh Reflex client token, one websocket, events sent one by one."""

    def __init__(self, base_url: str, *, router_path: str = "/security-probe", timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.client_token = str(uuid.uuid4())
        self.router_data = {"pathname": router_path, "asPath": router_path}
        self.timeout = timeout
        self.ws: simple_websocket.Client | None = None
        self.pending: list[Update] = []

    # ------------------------------------------------------------------ engine.io / socket.io framing
    def connect(self, boot_event: dict | None = None) -> None:
        url = (self.base_url.replace("http://", "ws://") +
               f"{NAMESPACE}/?EIO=4&transport=websocket&token={self.client_token}")
        self.ws = simple_websocket.Client.connect(url)
        opened = self._recv_raw()
        if not opened.startswith("0"):
            raise ProtocolError(f"expected the Engine.IO open packet, got {opened[:80]!r}")
        auth = {"event": self._routed(boot_event)} if boot_event else {}
        self.ws.send(f"40{NAMESPACE}," + json.dumps(auth))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            msg = self._recv_packet(deadline)
            if msg is None:
                continue
            kind, data = msg
            if kind == "connected":
                return
            if kind == "connect_error":
                raise ProtocolError(f"connect refused: {data}")
            if kind == EVENT:
                self.pending.append(data)
        raise ProtocolError("no Socket.IO connect acknowledgement")

    def close(self) -> None:
        if self.ws is not None:
            try:
                self.ws.close()
            except Exception:  # noqa: BLE001 - the server may have gone already
                pass
            self.ws = None

    def _recv_raw(self, timeout: float | None = None) -> str | None:
        data = self.ws.receive(timeout=self.timeout if timeout is None else timeout)
        if isinstance(data, bytes):
            data = data.decode()
        return data

    def _recv_packet(self, deadline: float) -> tuple[str, Any] | None:
        """One Socket.IO packet of our namespace, answering Engine.IO pings on the way."""
        raw = self._recv_raw(max(0.0, deadline - time.monotonic()))
        if raw is None:
            return None
        if raw == "2":
            self.ws.send("3")
            return None
        if not raw.startswith("4"):
            return None  # engine.io noop/close
        sio = raw[1:]
        prefix = {"0": "connected", "4": "connect_error", "2": EVENT}.get(sio[:1])
        body = sio[1:]
        if body.startswith(NAMESPACE):
            body = body[len(NAMESPACE):].lstrip(",")
        if prefix == EVENT:
            # an optional ack id may precede the JSON array
            body = body.lstrip("0123456789")
            name, *args = json.loads(body)
            if name != EVENT:
                return ("other", (name, args))
            payload = args[0] if args else {}
            if isinstance(payload, str):
                payload = json.loads(payload)
            return (EVENT, Update(delta=payload.get("delta") or {}, events=payload.get("events") or []))
        return (prefix or "other", json.loads(body) if body.strip() else None)

    # ------------------------------------------------------------------------------------ reflex events
    def _routed(self, event: dict) -> dict:
        return {"name": event["name"], "payload": event.get("payload", {}), "router_data": dict(self.router_data)}

    def emit(self, name: str, payload: Any = None) -> None:
        event = {"name": name, "payload": {} if payload is None else payload, "router_data": dict(self.router_data)}
        self.ws.send(f"42{NAMESPACE}," + json.dumps([EVENT, event]))

    def receive_until(self, predicate, timeout: float | None = None) -> list[Update]:
        """Every update up to and including the first one `predicate` accepts."""
        got, self.pending = self.pending, []
        for i, u in enumerate(got):
            if predicate(u):
                self.pending = got[i + 1:]
                return got[: i + 1]
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while time.monotonic() < deadline:
            msg = self._recv_packet(deadline)
            if msg is None or msg[0] != EVENT:
                continue
            got.append(msg[1])
            if predicate(msg[1]):
                return got
        raise ProtocolError(f"timed out; received {got!r}")

    def drain(self, seconds: float) -> list[Update]:
        """Whatever arrives within `seconds`."""
        got, self.pending = self.pending, []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            msg = self._recv_packet(deadline)
            if msg is not None and msg[0] == EVENT:
                got.append(msg[1])
        return got

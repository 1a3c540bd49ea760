"""Serve the gateway's ASGI app (the one Reflex mounts through `api_transformer`) on loopback, for the bench.

    python -m bench.gateway_server --db URL --port 41234 [--server uvicorn|granian]

uvicorn is what the brief names; granian is what `reflex run --env prod` starts when gunicorn is not
installed (Reflex 0.10 `should_use_granian`). Prints "ready" once the port accepts connections.
"""

from __future__ import annotations

import argparse
import os
import socket


def free_port() -> int:
    """A free loopback port in 41000-41999 (the range this project's benches and test servers use)."""
    for port in range(41000 + os.getpid() % 500, 42000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise RuntimeError("no free port in 41000-41999")


def make_app():
    """The app factory (granian imports this in its worker process; the DB URL comes from the env)."""
    from admin_panel.api import create_api
    from services.core import webhooks
    from services.core.db import make_engine
    from services.gateway import expiry

    engine = make_engine(os.environ["BENCH_GATEWAY_DB"])
    webhooks.start_worker(engine)  # as the app's lifespan does: webhook sender, reservation expiry
    expiry.start_worker(engine)
    return create_api(engine)


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--db", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn")
    a = p.parse_args(argv)
    os.environ["BENCH_GATEWAY_DB"] = a.db
    if a.server == "uvicorn":
        import uvicorn

        uvicorn.run(make_app(), host="127.0.0.1", port=a.port, log_level="warning", access_log=False)
    else:
        from granian.constants import Interfaces
        from granian.server import Server

        Server("bench.gateway_server:make_app", factory=True, address="127.0.0.1", port=a.port,
               interface=Interfaces.ASGI, workers=1, log_enabled=False).serve()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

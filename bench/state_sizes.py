"""Pickled Reflex state per admin tab, page by page (target: < 50 KB per tab), measured where production keeps
it: the Redis state manager stores one pickle per substate under "<client token>_<state name>", so a tab's
state is the sum of its values' sizes.

On the full demo data (services/ops/demo.py at --scale, default 1: Acme ~200 users, a year of usage), served by
the real backend with a private Redis. Each scenario is a fresh tab (the security suite's raw Socket.IO
client, signed in with MFA verified) that opens one page the way the browser does (shell, page and bell
on_load handlers) and, for some, does what the page is for (a distribution preview, the audit tab, 100 rows).
The last scenario is one tab that opened every page.

    python -m bench.state_sizes [--scale 1.0] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import live_data
from tests.scale.cluster import App, RedisServer
from tests.security.tab import Tab

LIMIT = 50 * 1024


def _h(state, method: str) -> str:
    return f"{state.get_full_name()}.{method}"


def scenarios():
    """(label, who, route, [(event, payload)…]) — who: "admin" (Acme's admin) or "super" (All organizations)."""
    from reflex_base.utils import format

    import admin_panel.admin_panel  # noqa: F401  (registers the states)
    from admin_panel.features.activity.state import ActivityState
    from admin_panel.features.distribution.state import DistributionState
    from admin_panel.features.users.state import UsersState
    from admin_panel.shell.notice_bell import NoticeState
    from admin_panel.shell.registry import PAGES
    from admin_panel.shell.state import ShellState

    def opened(key: str) -> list:
        spec = PAGES[key]
        return ([(_h(ShellState, "load"), {"nav_key": key})] + [(format.format_event_handler(h), {})
                                                                  for h in spec.on_load]
                + [(_h(NoticeState, "load"), {})])

    route = {k: spec.item.route for k, spec in PAGES.items()}
    out = [(f"{route[k]}", "super" if k == "orgs" else "admin", route[k], opened(k)) for k in sorted(PAGES)]
    out += [
        ("/admin/users, 100 rows a page", "admin", route["users"],
         opened("users") + [(_h(UsersState, "set_page_size"), {"value": "100"})]),
        ("/admin/distribution after a preview", "admin", route["distribution"],
         opened("distribution") + [(_h(DistributionState, "preview"), {})]),
        ("/admin/activity, audit tab", "admin", route["logs"],
         opened("logs") + [(_h(ActivityState, "set_tab"), {"tab": "audit"})]),
        ("/admin/statistics, super admin, all organizations", "super", route["stats"], opened("stats")),
        ("one tab that opened every page", "admin", route["users"],
         [e for k in sorted(PAGES) if k != "orgs" for e in opened(k)]),
    ]
    return out


def prepare(url: str, scale: float):
    from sqlmodel import Session, select

    from models import Organization
    from services.core.db import make_engine
    from services.ops.demo import seed_demo
    from services.ops.migrate import upgrade

    upgrade(url)
    eng = make_engine(url)
    with Session(eng) as s:
        seed_demo(s, scale=scale)
        s.commit()
        acme = s.exec(select(Organization).where(Organization.name == "Acme Corp")).one().id
    eng.dispose()
    world = live_data.add_admins(url, 1, org_id=acme, domain="acme.example")
    live_data.add_super(world)
    return world


def measure(app: App, redis: RedisServer, world) -> list[tuple[str, dict[str, int]]]:
    idents = []
    for label, who, route, events in scenarios():
        tab = Tab(app.url, world.sign_in("super" if who == "super" else "admin0", verified=True), router_path=route)
        for name, payload in events:
            tab.call(name, payload)
        idents.append((label, tab.sock.client_token))
        tab.close()
    r = redis.client()

    def sizes(ident: str) -> dict[str, int]:
        return {k.decode()[len(ident) + 1:].rsplit(".", 1)[-1]: r.strlen(k) for k in r.scan_iter(match=f"{ident}_*")
                if not k.decode().endswith(("_lock", "_lock_waiters"))}

    # The Redis state manager keeps a busy tab's state in the worker (a lease) and writes it back after it.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(sizes(i) for _, i in idents):
        time.sleep(0.5)
    time.sleep(2)
    return [(label, sizes(ident)) for label, ident in idents]


def table(rows: list[tuple[str, dict[str, int]]]) -> str:
    out = ["| page (fresh tab) | pickled state | substates | largest substate | its size | < 50 KB |",
           "|---|---:|---:|---|---:|---|"]
    for label, per in rows:
        total = sum(per.values())
        big = max(per.items(), key=lambda kv: kv[1]) if per else ("—", 0)
        name = big[0].split("____")[-1]
        out.append(f"| {label} | {total / 1024:.1f} KB | {len(per)} | {name} | {big[1] / 1024:.1f} KB | "
                   f"{'yes' if total < LIMIT else '**no**'} |")
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, default=1.0, help="demo data scale (1.0: Acme ~200 users)")
    p.add_argument("--out")
    a = p.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="steward-sizes-"))
    url = f"sqlite:///{workdir / 'demo.db'}"
    world = prepare(url, a.scale)
    redis = RedisServer().start()
    app = App(db_url=url, workdir=workdir, redis_url=redis.url, workers=1).start()
    try:
        rows = measure(app, redis, world)
    finally:
        app.stop()
        redis.close()
        shutil.rmtree(workdir, ignore_errors=True)
    text = (f"### Pickled state per admin tab (demo data at scale {a.scale:g}; Redis value sizes; "
            f"{os.cpu_count()} CPUs)\n\n" + table(rows))
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Every handler of every protected state, over a raw Socket.IO connection, as every kind of attacker.

The handlers come from Reflex's registry at run time (tests/security/registry.py), so a state or handler
added later is attacked without editing this file. A call that the security model refuses must answer with
a redirect and an empty delta and leave every table as it was. A call the persona may make (its own area) is
made with other users' and the other org's ids and must leave their rows alone and show none of their data.
"""

from __future__ import annotations

import json

import pytest

from .conftest import COVERAGE
from .personas import LOGIN, PERSONA_NAMES, Persona, build_personas
from .registry import payloads, protected_handlers, protected_states, unknown_names
from .snapshots import diff, snapshot, victim_snapshot
from .tab import Tab
from .world import World

ROUTES = {"/login", "/mfa/setup", "/mfa/verify", "/me", "/admin"}


@pytest.fixture(scope="module")
def personas(world: World) -> dict[str, Persona]:
    out = {p.name: p for p in build_personas(world)}
    assert list(out) == PERSONA_NAMES
    return out


def assert_denied(updates, where: str, route: str | None) -> None:
    assert len(updates) == 1, f"{where}: expected one denial, got {updates}"
    (u,) = updates
    assert u.delta == {}, f"{where}: a denial carried a state delta: {u.delta}"
    assert len(u.events) == 1 and u.redirects and u.redirects[0] in ROUTES, f"{where}: not a redirect: {u.events}"
    if route is not None:
        assert u.redirects[0] == route, f"{where}: redirected to {u.redirects[0]}, expected {route}"


def run_denied(tab: Tab, persona: Persona, engine, targets) -> int:
    """Every handler the persona may not call, with every adversarial payload; returns the handler count."""
    route = LOGIN if persona.user is None else None
    denied = [h for h in protected_handlers() if persona.denied(h)]
    before = snapshot(engine)
    for h in denied:
        sent = payloads(h, targets)
        got = tab.call_many(h.name, sent)
        assert len(got) == len(sent), f"{persona.name} -> {h.name}: {len(sent)} calls, {len(got)} answers: {got}"
        for payload, update in zip(sent, got, strict=True):
            assert_denied([update], f"{persona.name} -> {h.name}({json.dumps(payload)[:120]})", route)
        changed = diff(before, snapshot(engine))
        assert not changed, f"{persona.name} -> {h.name}: the database changed: {changed}"
    for name in unknown_names():
        got = tab.call_many(name, [{}, {"value": 1}])
        assert got == [], f"{persona.name} -> unknown {name!r} answered {got}"
    assert not diff(before, snapshot(engine)), f"{persona.name}: unknown handler names changed the database"
    return len(denied)


def run_in_scope(tab: Tab, persona: Persona, w: World, engine) -> int:
    """The persona's own handlers, aimed at everybody else: their rows stay, their data is never sent."""
    users, orgs = persona.victims(w)
    targets = persona.targets(w)
    secrets = persona.victim_strings(w)
    allowed = [h for h in protected_handlers() if not persona.denied(h)]
    before = victim_snapshot(engine, users, orgs)
    for h in allowed:
        for payload in payloads(h, targets):
            got = tab.call(h.name, payload)
            text = json.dumps([(u.delta, u.events) for u in got])
            leaked = [s for s in secrets if s in text]
            assert not leaked, f"{persona.name} -> {h.name}({json.dumps(payload)[:120]}) showed {leaked}"
            if not w.session_alive(persona.token):  # e.g. sign_out: sign in again and carry on
                persona.token = w.sign_in(persona.user, verified=persona.verified)
                tab.set_token(persona.token)
        tab.barrier()  # events chained by the last call
        changed = diff(before, victim_snapshot(engine, users, orgs))
        assert not changed, f"{persona.name} -> {h.name}: other users' / the other org's rows changed: {changed}"
    return len(allowed)


@pytest.mark.parametrize("name", PERSONA_NAMES)
def test_every_protected_handler(name: str, personas, world: World, app_url: str) -> None:
    persona = personas[name]
    COVERAGE["states"] = protected_states()
    engine = world.engine()
    # An outsider aims at everyone.
    targets = (Persona("x", None, "beta_admin") if persona.user is None else persona).targets(world)
    try:
        with Tab(app_url, persona.token) as tab:
            denied = run_denied(tab, persona, engine, targets)
            scoped = run_in_scope(tab, persona, world, engine) if persona.user else 0
            COVERAGE["personas"][name] = {"denied": denied, "scoped": scoped, "calls": tab.calls}
    finally:
        engine.dispose()
    assert denied > 0


def test_registry_sees_every_marker(app_url: str) -> None:
    """The enumeration is live: it finds states of each marker and Reflex's generic setters."""
    handlers = protected_handlers()
    markers = {h.marker for h in handlers}
    assert {"PasswordStep", "MemberArea", "AdminArea", "unmarked"} <= markers
    assert sum(h.method == "setvar" for h in handlers) >= 5

"""Every event handler of the app, read from Reflex's handler registry (the one the guard reads), so states
and handlers added later are covered without editing the suite; and adversarial arguments for each."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

ROOT_STATE = "reflex___state____state"
SENTINEL = f"{ROOT_STATE}.set_is_hydrated"  # a framework handler: flips `is_hydrated`, a recognisable delta
HYDRATE = f"{ROOT_STATE}.hydrate_and_load"
UPDATE_VARS = f"{ROOT_STATE}.reflex___state____update_vars_internal_state.update_vars_internal"


@dataclass(frozen=True)
class Handler:
    name: str  # the full event name the browser sends
    state: type
    method: str
    params: tuple[str, ...]
    marker: str  # Public / PasswordStep / MemberArea / AdminArea / unmarked / framework
    roles: tuple[str, ...]  # AdminArea: required_roles

    @property
    def state_name(self) -> str:
        return self.state.__name__


def _app():
    import admin_panel.admin_panel  # noqa: F401  (registers the app's states, handlers and the guard)
    from admin_panel.runtime import guard

    return guard


def marker_of(cls: type) -> str:
    g = _app()
    if cls.__module__.split(".")[0] in ("reflex", "reflex_base"):
        return "framework"
    for m in (g.Public, g.PasswordStep, g.MemberArea, g.AdminArea):
        if issubclass(cls, m):
            return m.__name__
    return "unmarked"


def _params(fn) -> tuple[str, ...]:
    out = []
    for i, p in enumerate(inspect.signature(fn).parameters.values()):
        if i == 0:
            continue  # self
        if p.kind is p.VAR_POSITIONAL:
            out.append("args")
        elif p.kind is p.VAR_KEYWORD:
            out.append("kwargs")
        else:
            out.append(p.name)
    return tuple(out)


def all_handlers() -> list[Handler]:
    from reflex_base.registry import RegistrationContext

    _app()
    out = []
    for name, reg in RegistrationContext.get().event_handlers.items():
        cls = reg.states[0]
        marker = marker_of(cls)
        out.append(Handler(name, cls, name.rpartition(".")[2], _params(reg.handler.fn), marker,
                           tuple(getattr(cls, "required_roles", ()) if marker == "AdminArea" else ())))
    return sorted(out, key=lambda h: h.name)


def protected_handlers() -> list[Handler]:
    """Handlers of every state that is neither a framework state nor `Public`, plus every `setvar`."""
    return [h for h in all_handlers()
            if h.method == "setvar" or h.marker not in ("framework", "Public")]


def protected_states() -> dict[str, dict]:
    """State name -> marker, roles and handler names (for the coverage report)."""
    out: dict[str, dict] = {}
    for h in all_handlers():
        if h.marker in ("framework", "Public"):
            continue
        label = h.marker + (f"{list(h.roles)}" if h.roles else "")
        info = out.setdefault(h.state_name, {"marker": label, "names": []})
        info["names"].append(h.method)
    for info in out.values():
        info["count"] = len(info["names"])
    return out


def unknown_names() -> list[str]:
    """Names that are not handlers: state methods that are not events, and made-up names."""
    states = {h.name.rpartition(".")[0] for h in all_handlers()}
    out = [f"{ROOT_STATE}.no_such_state.load", "evil", "", f"{ROOT_STATE}.__init__", f"{ROOT_STATE}.get_state"]
    for s in sorted(states):
        out += [f"{s}.no_such_handler", f"{s}.reset"]
    return out


@dataclass(frozen=True)
class Targets:
    """The ids and names an attacker aims at (another org's, other users')."""

    user_ids: tuple[int, ...]
    org_ids: tuple[int, ...]


def adversarial_values(t: Targets) -> list[Any]:
    uid, oid = t.user_ids[0], t.org_ids[0]
    return [
        uid, str(uid), oid, list(t.user_ids), {"id": uid, "org_id": oid, "role": "super_admin"}, "all", "",
        "x" * 5000, "' OR 1=1 --", 2**63, 10**40, -1, None, True,
        {"email": "evil@evil.test", "password": "x", "code": "000000", "org_id": oid, "user_id": uid},
    ]


def payloads(h: Handler, t: Targets) -> list[dict]:
    """Adversarial payloads from the handler's signature: every value in every parameter, missing
    arguments, and unexpected keyword arguments naming the targets."""
    out: list[dict] = [{}]
    if h.method == "setvar":
        names = list(getattr(h.state, "base_vars", {})) + ["_secret", "router", "token"]
        out += [{"var_name": n, "value": "pwned"} for n in names]
        out.append({"var_name": names[0], "value": {"org_id": t.org_ids[0], "user_id": t.user_ids[0]}})
    for v in adversarial_values(t):
        if h.params:
            out.append(dict.fromkeys(h.params, v))
    out.append({"org_id": t.org_ids[0], "user_id": t.user_ids[0], "role": "super_admin", "actor": "system"})
    return out

"""Who attacks: browsers without a usable session, and signed-in users outside their role or org.

What each may do is written here from the security model (DESIGN.md), not read from the guard: framework
states and `Public` handlers are open; `PasswordStep` needs a session; admin roles need MFA verified in the
session for everything else; `AdminArea` needs a role in the state's `required_roles`; an unmarked state
and every generic `setvar` are refused to everyone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from models import ADMIN_ROLES, utcnow

from .registry import Handler, Targets
from .world import World

LOGIN = "/login"


@dataclass
class Persona:
    name: str
    token: object  # what the browser's local storage holds (None: nothing)
    user: str | None = None  # world key of the signed-in user, None without a usable session
    role: str | None = None
    mfa_ok: bool = False
    verified: bool = False  # sign in again with MFA verified after a sign-out

    def denied(self, h: Handler) -> bool:
        if h.method == "setvar" or h.marker in ("unmarked", "framework"):
            return True
        if h.marker == "Public":
            return False
        if self.user is None:
            return True
        if h.marker == "PasswordStep":
            return False
        if self.role in ADMIN_ROLES and not self.mfa_ok:
            return True
        if h.marker == "AdminArea":
            return self.role not in h.roles
        return h.marker != "MemberArea"

    def victims(self, w: World) -> tuple[set[int], set[int]]:
        """Every other org and its users, and the super admin. Members and finance: their colleagues' rows too
        (an org admin may legitimately see and manage the users of their own org; finance may see, never
        change, who in its own org used what)."""
        own_org = w.org_of[self.user]
        users = {uid for key, uid in w.ids.items() if key != self.user
                 and not (self.role == "admin" and w.org_of[key] == own_org)}
        orgs = {o for o in (w.alpha_id, w.beta_id) if o != own_org}
        return users, orgs

    def targets(self, w: World) -> Targets:
        users, orgs = self.victims(w)
        own_org = w.org_of[self.user]
        # another org's users first, then colleagues, then the super admin
        ordered = sorted(users, key=lambda uid: (w.org_of[_key(w, uid)] == own_org, w.org_of[_key(w, uid)] is None,
                                                 uid))
        return Targets(tuple(ordered), tuple(sorted(orgs)))

    def victim_strings(self, w: World) -> list[str]:
        from .world import ALPHA, BETA

        users, orgs = self.victims(w)
        if self.role == "finance":  # finance reads per-user usage of its own org (top users, chargeback CSV)
            users = {uid for uid in users if w.org_of[_key(w, uid)] != w.org_of[self.user]}
        names = {w.alpha_id: ALPHA, w.beta_id: BETA}
        return [w.emails[_key(w, uid)] for uid in users] + [names[o] for o in orgs]


def _key(w: World, uid: int) -> str:
    return next(k for k, v in w.ids.items() if v == uid)


def build_personas(w: World) -> list[Persona]:
    """Fresh sessions for each run (the idle timeout is 30 minutes)."""
    flip = lambda t: t[:-1] + ("A" if t[-1] != "A" else "B")  # noqa: E731
    expired, idle, revoked = (w.sign_in("alpha_admin", verified=True) for _ in range(3))
    w.alter_session(expired, expires_at=utcnow() - timedelta(seconds=1))
    w.alter_session(idle, last_seen_at=utcnow() - timedelta(minutes=31))
    w.revoke(revoked)
    return [
        Persona("anonymous", None),
        Persona("tampered token", flip(w.sign_in("alpha_admin", verified=True))),
        Persona("token not a string", {"$ne": "", "token_hash": 1}),
        Persona("expired session", expired),
        Persona("idle session", idle),
        Persona("revoked session", revoked),
        Persona("admin, MFA not verified", w.sign_in("alpha_admin"), "alpha_admin", "admin"),
        Persona("admin, MFA not enrolled", w.sign_in("alpha_admin_new"), "alpha_admin_new", "admin"),
        Persona("member", w.sign_in("alpha_member"), "alpha_member", "member", True, True),
        Persona("finance", w.sign_in("alpha_finance", verified=True), "alpha_finance", "finance", True, True),
        Persona("admin of the other org", w.sign_in("beta_admin", verified=True), "beta_admin", "admin", True, True),
    ]


PERSONA_NAMES = ["anonymous", "tampered token", "token not a string", "expired session", "idle session",
                 "revoked session", "admin, MFA not verified", "admin, MFA not enrolled", "member", "finance",
                 "admin of the other org"]

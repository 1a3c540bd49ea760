"""Token Distribution page: status cards, policy per kind, per-user limits, Distribute now (preview → execute),
history. Display data only; every value from the browser is checked by the services."""

from typing import ClassVar

import reflex as rx

from admin_panel.runtime.db import in_db
from admin_panel.runtime.guard import LOGIN_ROUTE, AdminArea, current_session
from admin_panel.ui import formatting
from services.core.errors import DomainError, Invalid
from services.core.permissions import MANAGE, scoped_org_id
from services.tokens.distribution import policy, runs
from services.tokens.distribution.presets import LABELS, PRESET_NAMES
from services.tokens.pool import compute_summary

PREVIEW_PAGE = 50
HISTORY_PAGE = 10
FIELD_LABELS = {
    "floor": "Floor per user", "ceiling": "Ceiling per user (empty = unlimited)", "auto_increase": "Auto-increase",
    "increase_method": "Increase method", "increase_amount": "Increase amount (tokens or %)",
    "trigger_pct": "Trigger (% used)", "cooldown_minutes": "Cooldown (minutes)",
    "near_ceiling_bump_pct": "Near-ceiling bump (%)", "monthly_reset": "Monthly reset on the 1st",
    "reclamation": "Reclamation", "reclaim_schedule": "Reclamation schedule",
    "reclaim_buffer_pct": "Reclamation buffer (%)", "reserve_pct": "Reserve (% of the pool)",
    "auto_approve": "Auto-approve requests", "auto_approve_max": "Auto-approve up to (tokens)",
    "schedule": "Scheduled distribution", "scheduled_strategy": "Scheduled strategy",
    "lookback_days": "Usage lookback (days)",
}
BOOL_FIELDS = ("auto_increase", "monthly_reset", "reclamation", "auto_approve")
CHOICES = {"increase_method": list(policy.METHODS), "reclaim_schedule": list(policy.RECLAIM_SCHEDULES),
           "schedule": list(policy.SCHEDULES), "scheduled_strategy": list(policy.STRATEGIES)}
CHOICE_LABELS = {
    "flat": "Flat amount", "percent_current": "% of current allocation", "percent_headroom": "% of headroom",
    "tiered": "Tiered (% of headroom)", "off": "Off", "daily": "Daily", "weekly": "Weekly (Mondays)",
    "monthly": "Monthly (the 1st)", "equal": "Equal split", "usage": "Usage-based", "incremental": "Incremental",
}


fmt = formatting.limit


def _as_text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _user_line(u: dict, kind: str) -> dict[str, str]:
    f, c = ("floor_override", "ceiling_override") if kind == "tokens" else (
        "training_floor_override", "training_ceiling_override")
    cap = u["max_tokens"] if kind == "tokens" else u["max_training_tokens"]
    return {"user_id": str(u["user_id"]), "email": u["email"], "allocation": fmt(cap),
            "floor": "" if u[f] is None else fmt(u[f]), "ceiling": "" if u[c] is None else fmt(u[c])}


class DistributionState(AdminArea, rx.State):
    required_roles: ClassVar[tuple[str, ...]] = MANAGE

    kind: str = "tokens"
    cards: dict[str, str] = {}
    overbooked: str = ""
    preset: str = ""
    preset_label: str = ""
    pol: dict[str, str] = {}
    field_names: list[str] = [f for f in policy.EDITABLE if f not in BOOL_FIELDS and f not in CHOICES]
    overrides: list[dict[str, str]] = []
    excluded: list[dict[str, str]] = []
    pinned: list[dict[str, str]] = []
    counts: dict[str, int] = {}
    strategy: str = "equal"
    lookback: str = "30"
    preview_rows: list[dict[str, str]] = []
    preview_totals: dict[str, str] = {}
    preview_warnings: list[str] = []
    preview_page: int = 1
    preview_pages: int = 1
    has_preview: bool = False
    confirm_open: bool = False
    running: bool = False
    history: list[dict[str, str]] = []
    history_page: int = 1
    history_total: int = 0
    detail: dict[str, str] = {}
    detail_rows: list[dict[str, str]] = []
    detail_page: int = 1
    detail_pages: int = 1
    error: str = ""
    notice: str = ""
    warnings: list[str] = []
    _rows: list[tuple] = []  # the full preview (user_id, email, current, proposed, warnings) — server side only
    _fingerprint: str = ""
    _plan_args: tuple = ()
    _detail_id: int = 0

    # ------------------------------------------------------------------------------------------ loading
    async def _actor(self):
        info = await current_session(self)
        return info.actor() if info is not None else None

    @rx.event
    async def load(self):
        actor = await self._actor()
        if actor is None:
            return rx.redirect(LOGIN_ROUTE)
        self.error = self.notice = ""
        self.warnings = []
        self._clear_preview()
        await self._refresh(actor)
        return None

    async def _refresh(self, actor) -> None:
        kind = self.kind if self.kind in ("tokens", "training") else "tokens"

        def read(db):
            pol = policy.get_policy(db, actor=actor, kind=kind)
            summary = compute_summary(db, scoped_org_id(db, actor)).kind(kind)
            special = policy.special_users(db, actor=actor, limit=100)
            hist, total = runs.list_runs(db, actor=actor, page=self.history_page, page_size=HISTORY_PAGE)
            return pol, summary, special, hist, total

        try:
            pol, ks, special, hist, total = await in_db(read, read=True)
        except DomainError as e:
            self.error = e.message
            return
        self.cards = {"purchased": fmt(ks.purchased), "allocated": fmt(ks.assigned),
                      "used": fmt(ks.used_this_month), "unallocated": fmt(ks.unassigned)}
        self.overbooked = f"Overbooked by {ks.overbooked_by:,}" if ks.overbooked_by else ""
        self.preset, self.preset_label = pol["preset"], LABELS.get(pol["preset"], pol["preset"])
        self.pol = {k: _as_text(v) for k, v in pol.items()}
        self.lookback = str(pol["lookback_days"])
        self.overrides = [_user_line(u, kind) for u in special["overrides"]]
        self.excluded = [_user_line(u, kind) for u in special["excluded"]]
        self.pinned = [_user_line(u, kind) for u in special["pinned"]]
        self.counts = {k: special[k + "_count"] for k in ("overrides", "excluded", "pinned")}
        self.history = [{"id": str(r["id"]), "when": formatting.moment(r["started_at"]), "actor": r["actor"],
                         "kind": r["kind"], "strategy": r["strategy_label"], "before": fmt(r["total_before"]),
                         "after": fmt(r["total_after"]), "changed": str(r["changed"])} for r in hist]
        self.history_total = total

    # ------------------------------------------------------------------------------------------- policy
    @rx.event
    async def set_kind(self, kind: str):
        if kind not in ("tokens", "training"):
            return None
        self.kind = kind
        return DistributionState.load

    @rx.event
    async def choose_preset(self, preset: str):
        actor = await self._actor()
        if actor is None:
            return rx.redirect(LOGIN_ROUTE)
        if preset not in PRESET_NAMES:
            self.error = "Unknown preset."
            return None
        try:
            r = await in_db(lambda db: policy.apply_preset(db, actor=actor, kind=self.kind, preset=preset))
        except DomainError as e:
            self.error = e.message
            return None
        self.error, self.warnings = "", r.warnings
        self.notice = f"{LABELS[preset]} preset applied to {self.kind}."
        await self._refresh(actor)
        return None

    @rx.event
    async def save_policy(self, form_data: dict):
        """The policy form: every field as text (booleans as on/off switches)."""
        actor = await self._actor()
        if actor is None:
            return rx.redirect(LOGIN_ROUTE)
        if not isinstance(form_data, dict):
            self.error = "Nothing to save."
            return None
        changes = {}
        for f in policy.EDITABLE:
            if f in BOOL_FIELDS:
                changes[f] = form_data.get(f) in ("on", True)
            elif f in form_data:
                v = form_data[f]
                changes[f] = v.strip() if isinstance(v, str) else v
        current = self.pol
        changes = {f: v for f, v in changes.items() if _as_text(v) != current.get(f, "")}
        if not changes:
            self.notice, self.error = "No changes.", ""
            return None
        for f in ("ceiling", "near_ceiling_bump_pct"):
            if changes.get(f) == "":
                changes[f] = None
        try:
            r = await in_db(lambda db: policy.update_policy(db, actor=actor, kind=self.kind, changes=changes))
        except DomainError as e:
            self.error = e.message
            return None
        self.error, self.warnings, self.notice = "", r.warnings, "Policy saved."
        await self._refresh(actor)
        return None

    @rx.event
    async def save_override(self, form_data: dict):
        actor = await self._actor()
        if actor is None:
            return rx.redirect(LOGIN_ROUTE)
        form = form_data if isinstance(form_data, dict) else {}
        email, floor, ceiling = (form.get(k, "") for k in ("email", "floor", "ceiling"))
        kind = self.kind

        def write(db):
            user = policy.user_by_ref(db, actor, email if isinstance(email, str) else None)
            return policy.set_override(db, actor=actor, user_id=user.id, kind=kind, floor=floor or None,
                                       ceiling=ceiling or None)

        try:
            r = await in_db(write)
        except DomainError as e:
            self.error = e.message
            return None
        self.error, self.warnings, self.notice = "", r.warnings, "Per-user limits saved."
        await self._refresh(actor)
        return None

    @rx.event
    async def clear_override(self, user_id: str):
        kind = self.kind
        await self._user_action(user_id, lambda db, actor, uid: policy.clear_override(
            db, actor=actor, user_id=uid, kind=kind), "Per-user limits cleared.")

    @rx.event
    async def exclude(self, form_data: dict):
        actor = await self._actor()
        if actor is None:
            return rx.redirect(LOGIN_ROUTE)
        email = form_data.get("email") if isinstance(form_data, dict) else None

        def write(db):
            user = policy.user_by_ref(db, actor, email if isinstance(email, str) else None)
            return policy.set_excluded(db, actor=actor, user_id=user.id, excluded=True)

        try:
            await in_db(write)
        except DomainError as e:
            self.error = e.message
            return None
        self.error, self.notice = "", "User excluded from automation."
        await self._refresh(actor)
        return None

    @rx.event
    async def include(self, user_id: str):
        await self._user_action(user_id, lambda db, actor, uid: policy.set_excluded(
            db, actor=actor, user_id=uid, excluded=False), "User included in automation again.")

    async def _user_action(self, user_id, fn, done: str) -> None:
        actor = await self._actor()
        if actor is None:
            return
        uid = int(user_id) if isinstance(user_id, str) and user_id.isdigit() and len(user_id) <= 18 else None
        try:
            await in_db(lambda db: fn(db, actor, uid))
        except DomainError as e:
            self.error = e.message
            return
        self.error, self.notice = "", done
        await self._refresh(actor)

    # -------------------------------------------------------------------------------- distribute now
    def _clear_preview(self) -> None:
        self._rows, self._fingerprint, self._plan_args = [], "", ()
        self.preview_rows, self.preview_totals, self.preview_warnings = [], {}, []
        self.has_preview, self.confirm_open, self.preview_page, self.preview_pages = False, False, 1, 1

    @rx.event
    def set_strategy(self, value: str):
        if value in policy.STRATEGIES:
            self.strategy = value
            self._clear_preview()

    @rx.event
    def set_lookback(self, value: str):
        self.lookback = value[:4] if isinstance(value, str) else ""
        self._clear_preview()

    def _args(self) -> tuple[str, str, int | None]:
        lookback = None
        if self.strategy == "usage":
            if not self.lookback.isdigit():
                raise Invalid("Lookback must be from 1 to 366 days.")
            lookback = int(self.lookback)
        return self.kind, self.strategy, lookback

    @rx.event
    async def preview(self):
        actor = await self._actor()
        if actor is None:
            return rx.redirect(LOGIN_ROUTE)
        try:
            kind, strategy, lookback = self._args()
            plan = await in_db(lambda db: runs.preview(db, actor=actor, kind=kind, strategy=strategy,
                                                       lookback_days=lookback), read=True)
        except DomainError as e:
            self.error = e.message
            return None
        self._rows = [(r.user_id, r.email, r.current, r.proposed, "; ".join(r.warnings)) for r in plan.rows]
        self._fingerprint, self._plan_args = plan.fingerprint, (kind, strategy, lookback)
        t = plan.totals()
        self.preview_totals = {k: fmt(v) for k, v in t.items()}
        self.preview_warnings = plan.warnings
        self.preview_pages = max(1, -(-len(self._rows) // PREVIEW_PAGE))
        self.has_preview, self.error = True, ""
        self._show_preview_page(1)
        return None

    def _show_preview_page(self, page: int) -> None:
        page = min(max(1, page), self.preview_pages)
        part = self._rows[(page - 1) * PREVIEW_PAGE: page * PREVIEW_PAGE]
        self.preview_page = page
        self.preview_rows = [{"email": e, "current": fmt(c), "proposed": fmt(p),
                              "change": f"{p - c:+,}", "warnings": w} for _, e, c, p, w in part]

    @rx.event
    def preview_goto(self, page: int):
        if isinstance(page, int) and not isinstance(page, bool) and self.has_preview:
            self._show_preview_page(page)

    @rx.event
    def ask_confirm(self):
        if self.has_preview:
            self.confirm_open = True

    @rx.event
    def close_confirm(self):
        self.confirm_open = False

    @rx.event(background=True)
    async def execute(self):
        async with self:
            if not self.has_preview or self.running:
                return
            self.running, self.confirm_open = True, False
            args, expected = self._plan_args, self._fingerprint
            actor = await self._actor()  # inside the lock: a background task reads other states only here
        try:
            if actor is None:
                raise Invalid("Sign in again.")
            kind, strategy, lookback = args
            def work(db):
                run = runs.execute(db, actor=actor, kind=kind, strategy=strategy, lookback_days=lookback,
                                   expected=expected)
                return run.id, len(run.changes)

            run_id, n = await in_db(work)
            msg, err = f"Distribution #{run_id} done: {n:,} allocations changed.", ""
        except DomainError as e:
            msg, err = "", e.message
        async with self:
            self.running, self.notice, self.error = False, msg, err
            if not err:
                self._clear_preview()
                self.history_page = 1
            if actor is not None:
                await self._refresh(actor)

    # --------------------------------------------------------------------------------------- history
    @rx.event
    async def history_goto(self, page: int):
        actor = await self._actor()
        if actor is None:
            return rx.redirect(LOGIN_ROUTE)
        if isinstance(page, int) and not isinstance(page, bool) and 1 <= page <= 100_000:
            self.history_page = page
            await self._refresh(actor)
        return None

    @rx.event
    async def show_run(self, run_id: str, page: int = 1):
        actor = await self._actor()
        if actor is None:
            return rx.redirect(LOGIN_ROUTE)
        rid = int(run_id) if isinstance(run_id, str) and run_id.isdigit() and len(run_id) <= 18 else None
        page = page if isinstance(page, int) and not isinstance(page, bool) and page >= 1 else 1
        try:
            d = await in_db(lambda db: runs.run_detail(db, actor=actor, run_id=rid, page=page), read=True)
        except DomainError as e:
            self.error = e.message
            return None
        self._detail_id = d["id"]
        self.detail = {"id": str(d["id"]), "when": formatting.moment(d["started_at"]), "actor": d["actor"],
                       "strategy": d["strategy_label"], "kind": d["kind"], "before": fmt(d["total_before"]),
                       "after": fmt(d["total_after"]), "changed": str(d["changed"])}
        self.detail_rows = [{"email": c["email"], "before": fmt(c["before"]), "after": fmt(c["after"]),
                             "change": f"{c['change']:+,}"} for c in d["changes"]]
        self.detail_page, self.detail_pages = d["page"], d["pages"]
        return None

    @rx.event
    async def detail_goto(self, page: int):
        if self._detail_id:
            return await self.show_run(str(self._detail_id), page)
        return None

    @rx.event
    def close_detail(self):
        self.detail, self.detail_rows, self._detail_id = {}, [], 0



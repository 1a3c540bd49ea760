"""Token Distribution page: status cards, policy per kind, per-user limits, Distribute now (preview → execute),
history. Display data only; every value from the browser is checked by the services."""

from typing import ClassVar

import reflex as rx

from admin_panel.features.distribution import display
from admin_panel.features.distribution.display import BOOL_FIELDS, CHOICES, fmt
from admin_panel.runtime.db import in_db
from admin_panel.runtime.guard import AdminArea
from admin_panel.shell.handler import Outcome, as_actor, signed_in_actor
from services.core.errors import DomainError, Invalid
from services.core.permissions import MANAGE
from services.tokens.distribution import policy, runs
from services.tokens.distribution.presets import LABELS, PRESET_NAMES

PREVIEW_PAGE = 50
HISTORY_PAGE = 10
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
    @rx.event
    async def load(self):
        self.error = self.notice = ""
        self.warnings = []
        self._clear_preview()
        return (await self._refresh()).reply

    async def _refresh(self) -> Outcome:
        kind = self.kind if self.kind in ("tokens", "training") else "tokens"
        history_page = self.history_page
        got = await as_actor(self, lambda db, actor: display.read_page(db, actor, kind, history_page, HISTORY_PAGE),
                             read=True)
        if not got:
            return got
        pol, ks, special, hist, total = got.value
        self.cards = display.cards(ks)
        self.overbooked = f"Overbooked by {ks.overbooked_by:,}" if ks.overbooked_by else ""
        self.preset, self.preset_label = pol["preset"], LABELS.get(pol["preset"], pol["preset"])
        self.pol = {k: display.as_text(v) for k, v in pol.items()}
        self.lookback = str(pol["lookback_days"])
        self.overrides, self.excluded, self.pinned = (
            [display.user_line(u, kind) for u in special[k]] for k in ("overrides", "excluded", "pinned"))
        self.counts = {k: special[k + "_count"] for k in ("overrides", "excluded", "pinned")}
        self.history = [display.history_row(r) for r in hist]
        self.history_total = total
        return got

    # ------------------------------------------------------------------------------------------- policy
    @rx.event
    async def set_kind(self, kind: str):
        if kind not in ("tokens", "training"):
            return None
        self.kind = kind
        return DistributionState.load

    @rx.event
    async def choose_preset(self, preset: str):
        if preset not in PRESET_NAMES:
            self.error = "Unknown preset."
            return None
        kind = self.kind
        got = await as_actor(self, lambda db, actor: policy.apply_preset(db, actor=actor, kind=kind, preset=preset))
        if not got:
            return got.reply
        self.error, self.warnings = "", got.value.warnings
        self.notice = f"{LABELS[preset]} preset applied to {self.kind}."
        await self._refresh()
        return None

    @rx.event
    async def save_policy(self, form_data: dict):
        """The policy form: every field as text (booleans as on/off switches)."""
        if not isinstance(form_data, dict):
            self.error = "Nothing to save."
            return None
        changes = display.policy_changes(form_data, self.pol, BOOL_FIELDS)
        if not changes:
            self.notice, self.error = "No changes.", ""
            return None
        kind = self.kind
        got = await as_actor(self, lambda db, actor: policy.update_policy(db, actor=actor, kind=kind, changes=changes))
        if not got:
            return got.reply
        self.error, self.warnings, self.notice = "", got.value.warnings, "Policy saved."
        await self._refresh()
        return None

    @rx.event
    async def save_override(self, form_data: dict):
        form = form_data if isinstance(form_data, dict) else {}
        email, floor, ceiling = (form.get(k, "") for k in ("email", "floor", "ceiling"))
        kind = self.kind

        def write(db, actor):
            user = policy.user_by_ref(db, actor, email if isinstance(email, str) else None)
            return policy.set_override(db, actor=actor, user_id=user.id, kind=kind, floor=floor or None,
                                       ceiling=ceiling or None)

        got = await as_actor(self, write)
        if not got:
            return got.reply
        self.error, self.warnings, self.notice = "", got.value.warnings, "Per-user limits saved."
        await self._refresh()
        return None

    @rx.event
    async def clear_override(self, user_id: str):
        kind = self.kind
        await self._user_action(user_id, lambda db, actor, uid: policy.clear_override(
            db, actor=actor, user_id=uid, kind=kind), "Per-user limits cleared.")

    @rx.event
    async def exclude(self, form_data: dict):
        email = form_data.get("email") if isinstance(form_data, dict) else None

        def write(db, actor):
            user = policy.user_by_ref(db, actor, email if isinstance(email, str) else None)
            return policy.set_excluded(db, actor=actor, user_id=user.id, excluded=True)

        got = await as_actor(self, write)
        if not got:
            return got.reply
        self.error, self.notice = "", "User excluded from automation."
        await self._refresh()
        return None

    @rx.event
    async def include(self, user_id: str):
        await self._user_action(user_id, lambda db, actor, uid: policy.set_excluded(
            db, actor=actor, user_id=uid, excluded=False), "User included in automation again.")

    async def _user_action(self, user_id, fn, done: str) -> None:
        uid = int(user_id) if isinstance(user_id, str) and user_id.isdigit() and len(user_id) <= 18 else None
        if await as_actor(self, lambda db, actor: fn(db, actor, uid)):
            self.error, self.notice = "", done
            await self._refresh()

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

    @rx.event
    async def preview(self):
        try:
            kind, strategy, lookback = display.plan_args(self.kind, self.strategy, self.lookback)
        except Invalid as e:
            self.error = e.message
            return None
        got = await as_actor(self, lambda db, actor: runs.preview(db, actor=actor, kind=kind, strategy=strategy,
                                                                  lookback_days=lookback), read=True)
        if not got:
            return got.reply
        plan = got.value
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
        self.preview_rows = display.preview_rows(part)

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
            actor = await signed_in_actor(self)  # inside the lock: a background task reads other states only here
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
                await self._refresh()

    # --------------------------------------------------------------------------------------- history
    @rx.event
    async def history_goto(self, page: int):
        if isinstance(page, int) and not isinstance(page, bool) and 1 <= page <= 100_000:
            self.history_page = page
            return (await self._refresh()).reply
        return None

    @rx.event
    async def show_run(self, run_id: str, page: int = 1):
        rid = int(run_id) if isinstance(run_id, str) and run_id.isdigit() and len(run_id) <= 18 else None
        page = page if isinstance(page, int) and not isinstance(page, bool) and page >= 1 else 1
        got = await as_actor(self, lambda db, actor: runs.run_detail(db, actor=actor, run_id=rid, page=page),
                             read=True)
        if not got:
            return got.reply
        d = got.value
        self._detail_id = d["id"]
        self.detail, self.detail_rows = display.detail(d), display.detail_rows(d)
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



"""Analytics → Token Statistics: filters, cards, five Plotly charts and CSV exports (finance reads too)."""

from datetime import timedelta
from typing import ClassVar

import reflex as rx

from admin_panel.runtime.export_job import LogExport
from admin_panel.runtime.guard import AdminArea
from admin_panel.shell.handler import as_actor
from admin_panel.ui import charts
from admin_panel.ui import formatting as fmt
from models import utcnow
from services.analytics import csv_files, logs_filter, stats_filter
from services.analytics import statistics as st
from services.analytics.charts import GRANULARITIES
from services.core.permissions import READ_STATS

DEFAULT_DAYS = 90
TOP_CHOICES = ("5", "10", "20", "50")
CHART_KEYS = ("monthly", "over_time", "top_users", "models", "assigned")


def _s(form: dict, key: str, max_len: int = 320) -> str:
    v = form.get(key, "")
    if v is None:
        return ""
    if not isinstance(v, str) or len(v) > max_len:
        raise ValueError(key)
    return v.strip()


_n = fmt.number


class StatsState(AdminArea, LogExport, rx.State):
    required_roles: ClassVar[tuple[str, ...]] = READ_STATS

    start: str = ""
    end: str = ""
    granularity: str = "day"
    kind: str = "all"
    model: str = "all"
    user_email: str = ""
    top: str = "10"
    model_options: list[dict[str, str]] = []
    cards: list[dict[str, str]] = []
    org_rows: list[dict[str, str]] = []  # all-orgs view: one row per org
    fig_monthly: dict = {}  # plotly figures as plain dicts (components/charts.py)
    fig_over_time: dict = {}
    fig_top_users: dict = {}
    fig_models: dict = {}
    fig_assigned: dict = {}
    empty: dict[str, bool] = dict.fromkeys(CHART_KEYS, True)
    notes: dict[str, str] = dict.fromkeys(CHART_KEYS, "")
    loaded: bool = False
    error: str = ""
    _user_id: int | None = None

    # ---------------------------------------------------------------------------------------------- load
    @rx.event
    async def load(self):
        if not self.start:
            today = utcnow().date()
            self.start, self.end = (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(), today.isoformat()
        return await self._refresh()

    async def _refresh(self):
        user_email, start, end, kind, model = self.user_email, self.start, self.end, self.kind, self.model
        gran, top = self.granularity, int(self.top)

        def read(db, actor):
            return st.load_page(db, actor=actor, start=start, end=end, kind=kind, model=model, user_email=user_email,
                                granularity=gran, top=top)

        got = await as_actor(self, read, read=True)
        if not got:
            return got.reply
        uid, models, page = got.value
        self.error = ""
        self._user_id = uid
        self.model_options = [{"id": str(i), "name": n} for i, n in models]
        c = page.cards
        self.cards = [
            {"label": "Purchased", "value": _n(c.purchased), "hint": "inference tokens in unexpired purchases"},
            {"label": "Assigned", "value": _n(c.assigned), "hint": "sum of the users' monthly caps"},
            {"label": "Used this month", "value": _n(c.used_this_month), "hint": "billed inference tokens"},
            {"label": "Projected month end", "value": _n(c.projected_month_end), "hint": "at this month's pace"},
            {"label": "Pool days left", "value": _n(c.days_left) if c.days_left is not None else "no recent use",
             "hint": f"at {_n(c.burn_per_day)} tokens/day (last 7 days)"},
        ]
        self.org_rows = [{"org": r["org"], "purchased": _n(r["purchased"]), "assigned": _n(r["assigned"]),
                          "used": _n(r["used_this_month"]), "projected": _n(r["projected_month_end"]),
                          "days_left": _n(r["days_left"])} for r in c.per_org]
        figs = charts.figures(page, gran, top)
        self.fig_monthly, self.fig_over_time, self.fig_top_users = figs["monthly"], figs["over_time"], figs["top_users"]
        self.fig_models, self.fig_assigned = figs["models"], figs["assigned"]
        self.empty = {"monthly": page.monthly.empty, "over_time": page.over_time.empty,
                      "top_users": page.top_users.empty, "models": page.models.empty,
                      "assigned": not page.assigned.rows}
        self.notes = {"monthly": page.monthly.note, "over_time": page.over_time.note,
                      "top_users": page.top_users.note, "models": page.models.note, "assigned": ""}
        self.loaded = True
        return None

    # ------------------------------------------------------------------------------------------- filters
    @rx.event
    async def apply_filters(self, form: dict):
        try:
            if not isinstance(form, dict):
                raise ValueError("form")
            values = {k: _s(form, k) for k in ("start", "end", "granularity", "kind", "model", "user", "top")}
            if values["granularity"] not in GRANULARITIES or values["kind"] not in ("all", "tokens", "training") \
                    or values["top"] not in TOP_CHOICES:
                raise ValueError("choice")
            if values["model"] != "all" and not values["model"].isdigit():
                raise ValueError("model")
        except ValueError:
            self.error = "Those filters are not valid."
            return None
        self.start, self.end, self.granularity = values["start"], values["end"], values["granularity"]
        self.kind, self.model, self.user_email, self.top = values["kind"], values["model"], values["user"], values[
            "top"]
        return await self._refresh()

    @rx.event
    async def set_granularity(self, value: str):
        if value not in GRANULARITIES:
            self.error = "Granularity must be hour, day, week or month."
            return None
        self.granularity = value
        return await self._refresh()

    # ------------------------------------------------------------------------------------------- exports
    def _flt_reader(self):
        """A function of (db, actor) building the service filter from a snapshot of the page's filters."""
        values = dict(start=self.start, end=self.end, kind=self.kind, model_id=self.model)
        email = self.user_email
        return lambda db, actor: stats_filter.make_filter(db, actor, user_id=st.find_user(db, actor=actor, email=email),
                                                **values)

    @rx.event
    async def export_chart(self, chart: str):
        """CSV of one chart's data, or of every user's usage over the range (`per_user`)."""
        if chart not in csv_files.CHARTS:
            self.error = "Unknown chart."
            return None
        gran, top, flt_of = self.granularity, int(self.top), self._flt_reader()
        got = await as_actor(self, lambda db, actor: csv_files.chart_csv(db, actor=actor, chart=chart,
                                                                       flt=flt_of(db, actor), granularity=gran,
                                                                       top=top), read=True)
        if not got:
            return got.reply
        return rx.download(data=got.value, filename=f"{chart.replace('_', '-')}_{self.start}_{self.end}.csv",
                           mime_type="text/csv")

    @rx.event(background=True)
    async def export_raw(self):
        """Every usage event of the range (with the kind/model/user filters) — streamed in the background."""
        def inputs():
            flt_of = self._flt_reader()

            def make_filter(db, actor):
                f = flt_of(db, actor)
                return logs_filter.LogFilter(user_id=f.user_id, model_id=f.model_id, kind=f.kind, start=f.start,
                                             end=f.end)
            return "usage", make_filter

        return await self._start_export(inputs)

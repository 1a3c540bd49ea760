"""Token Statistics and Activity Logs page handlers, driven directly with real sessions."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import Session

from models import UsageEvent, utcnow
from services.core import audit
from services.core.actor import Actor
from services.core.db import get_engine
from services.core.errors import NotFound
from services.orgs import catalog
from services.usage.ledger import bulk_load

from .conftest import download_of, enrol_and_verify, sign_in, sub, with_token


def run(coro):
    return asyncio.run(coro)


def states():
    from admin_panel.features.activity.state import ActivityState
    from admin_panel.features.statistics.state import StatsState

    return StatsState, ActivityState


@pytest.fixture
def usage(people):
    now = utcnow()
    with Session(get_engine(), expire_on_commit=False) as s:
        gpt = catalog.ensure_default_models(s)[0]
        bulk_load(s, [UsageEvent(idempotency_key=f"s-{i}", org_id=people.org_id,
                                 user_id=(people.member if i % 2 else people.admin).id, model_id=gpt.id, kind="tokens",
                                 prompt_tokens=10, completion_tokens=0, billed_tokens=100 + i,
                                 occurred_at=now - timedelta(hours=i), ip="=1+1" if i == 0 else "10.0.0.1")
                      for i in range(120)])
        sysa = Actor(None, "super_admin", people.org_id, email="system")
        for i in range(3):
            audit.record(s, sysa, "allocation.set", org_id=people.org_id, target_type="user",
                         target_id=people.member.id, before={"max_tokens": i}, after={"max_tokens": i + 1})
        s.commit()
    return now


def signed_in(root, user):
    token = sign_in(user.email)
    enrol_and_verify(user.id, token)
    return with_token(root, token)




def test_finance_loads_statistics_with_charts_and_exports(root, people, usage):
    Stats, _ = states()
    st = sub(signed_in(root, people.finance), Stats)
    assert run(st.load()) is None and st.error == "" and st.loaded
    cards = {c["label"]: c["value"] for c in st.cards}
    assert cards["Purchased"] == "0" and cards["Used this month"] != ""
    assert st.empty["over_time"] is False and st.empty["top_users"] is False
    over_time, top = st.fig_over_time, st.fig_top_users
    assert over_time["data"] and sum(sum(t["y"]) for t in over_time["data"]) == sum(100 + i for i in range(120))
    assert top["layout"]["title"]["text"].startswith("Top 10") and "member@a.test" in top["data"][0]["y"]
    assert over_time["layout"]["yaxis"]["title"]["text"].startswith("Billed tokens")
    name, csv_text = download_of(run(st.export_chart("top_users")))
    assert name.startswith("top-users_") and "member@a.test" in csv_text
    assert run(st.export_chart("nope")) is None and st.error == "Unknown chart."


def test_statistics_figures_carry_no_template(root, people, usage):
    """rx.plotly adds the light/dark template in the browser; Plotly's default template in every figure would
    add ~5 KB per chart to the tab's pickled state (Redis) and ~6.5 KB to every delta."""
    import json
    import pickle

    def template_bytes(fig: dict) -> int:
        return len(json.dumps(fig.get("layout", {}).get("template") or {}))

    Stats, _ = states()
    st = sub(signed_in(root, people.finance), Stats)
    assert template_bytes(st.fig_monthly) < 100  # the default before loading
    run(st.load())
    for name in ("fig_monthly", "fig_over_time", "fig_top_users", "fig_models", "fig_assigned"):
        fig = getattr(st, name)
        assert fig["data"] and template_bytes(fig) < 100, name  # the usage fixture gives every chart data
    assert len(pickle.dumps(st)) < 20 * 1024


def test_statistics_filters_are_validated(root, people, usage):
    Stats, _ = states()
    st = sub(signed_in(root, people.admin), Stats)
    run(st.load())
    before = (st.start, st.end, st.granularity)
    for form in (None, [], {"start": ["x"]}, {"start": "2026-01-01", "end": "2026-01-02", "granularity": "year",
                                              "kind": "all", "model": "all", "user": "", "top": "10"},
                 {"start": "2026-01-01", "end": "2026-01-02", "granularity": "day", "kind": "all",
                  "model": "1; drop", "user": "", "top": "10"}):
        run(st.apply_filters(form))
        assert st.error and (st.start, st.end, st.granularity) == before
    run(st.set_granularity("hour"))  # 90 days by hour: refused with the rule
    assert "at most 7 days" in st.error
    today = utcnow().date()
    run(st.apply_filters({"start": (today - timedelta(days=2)).isoformat(), "end": today.isoformat(),
                          "granularity": "hour", "kind": "all", "model": "all", "user": "member@a.test",
                          "top": "5"}))
    assert "per organization and kind" in st.error  # hour + user filter
    run(st.apply_filters({"start": (today - timedelta(days=2)).isoformat(), "end": today.isoformat(),
                          "granularity": "hour", "kind": "tokens", "model": "all", "user": "", "top": "5"}))
    assert st.error == "" and len(st.fig_over_time["data"][0]["x"]) == 72
    run(st.apply_filters({"start": "2020-01-01", "end": "2020-01-31", "granularity": "day", "kind": "all",
                          "model": "all", "user": "", "top": "5"}))
    assert st.error == "" and st.empty["over_time"] and st.empty["models"]  # the page shows text, not axes
    run(st.apply_filters({"start": "2026-01-01", "end": "2026-01-31", "granularity": "day", "kind": "all",
                          "model": "all", "user": "someone@b.test", "top": "5"}))
    assert st.error == "No such user."


def test_activity_logs_page_through_usage_and_keep_one_page(root, people, usage):
    _, Act = states()
    act = sub(signed_in(root, people.admin), Act)
    assert run(act.load()) is None and act.error == ""
    assert act.columns[0] == "time" and len(act.rows) == 50 and act.has_next and not act.has_prev
    first = [r["time"] + r["billed_tokens"] for r in act.rows]
    run(act.next_page())
    run(act.next_page())
    assert act.page_no == 3 and len(act.rows) == 20 and not act.has_next
    run(act.prev_page())
    run(act.prev_page())
    assert act.page_no == 1 and [r["time"] + r["billed_tokens"] for r in act.rows] == first
    delta = str(root.get_delta())
    assert act._next and act._next not in delta  # cursors stay on the server
    run(act.apply_filters({"user": "member@a.test", "page_size": "25", "start": "", "end": "", "model": "all",
                           "kind": "all", "text": "", "outcome": "all", "action": "all"}))
    assert act.error == "" and {r["user"] for r in act.rows} == {"member@a.test"} and len(act.rows) == 25
    run(act.set_tab("audit"))
    assert act.columns == ["time", "actor", "action", "target", "changes", "ip"]
    run(act.clear_filters())
    assert any(r["changes"] == "max_tokens: 2 → 3" for r in act.rows)
    run(act.set_tab("secrets"))
    assert act.error == "Unknown log."
    run(act.apply_filters({"page_size": "100000"}))
    assert "Page size" in act.error


def test_finance_gets_no_activity_logs(root, people, usage):
    _, Act = states()
    act = sub(signed_in(root, people.finance), Act)
    run(act.load())
    assert act.error and act.rows == []


class FakeState:
    """Stands in for a background event's state proxy: `async with` and plain attributes."""

    def __init__(self):
        self.export_progress, self.export_message, self.export_running, self.export_ready = 0, "", True, False
        self._export_job = ""

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False


def test_background_export_streams_to_the_owner_only(people, usage, tmp_path, monkeypatch):
    from admin_panel.runtime.export_job import run_export
    from services.analytics import export_jobs, log_exports, logs_filter

    monkeypatch.setenv("STEWARD_EXPORT_DIR", str(tmp_path / "exports"))
    actor = Actor(people.admin.id, "admin", people.org_id, email=people.admin.email)
    with Session(get_engine()) as s:
        flt = logs_filter.LogFilter()
        plan = log_exports.plan_log_export(s, actor=actor, tab="usage", flt=flt)
    state = FakeState()
    ret = run(run_export(state, owner_id=people.admin.id, plan=plan, actor=actor, tab="usage", flt=flt))
    name, text = download_of(ret)
    assert name == "usage-events_start_now.csv" and text.count("\n") == 121 and "'=1+1" in text
    assert state.export_progress == 100 and state.export_ready and not state.export_running
    with pytest.raises(NotFound):  # another user's export looks missing
        export_jobs.read_file(state._export_job, owner_id=people.finance.id)

"""Plotly figures for the Token Statistics page, as plain JSON-ready dicts ({"data": [...], "layout": {...}}) built
from the few hundred rows of services.analytics.charts.Chart — rx.plotly draws such a dict as it draws a
plotly.graph_objects.Figure, without the milliseconds of validation and serialization a Figure costs.

Colours and fonts come from rx.plotly's light/dark template (it follows the colour mode); the figures only set
transparent backgrounds, titles, axis titles with units and readable number formats. Times are sent as ISO text
("2026-03-01", "2026-03-01 13:00"), which Plotly reads as dates.
"""

from __future__ import annotations

from datetime import datetime

from services.analytics.charts import Chart

KIND_LABEL = {"tokens": "Inference", "training": "Training"}
TOKENS_AXIS = "Billed tokens"
HOVER = "%{x}: %{y:,} tokens<extra>%{fullData.name}</extra>"


def _base(title: str, x_title: str, y_title: str, *, horizontal: bool = False, height: int = 340,
          legend: bool = True) -> dict:
    """Title at the top left, the legend (if any) on its own line under it, then the plot: nothing overlaps the
    axis titles or the (rotated) tick labels at any width."""
    value_axis = {"tickformat": "~s", "rangemode": "tozero"}
    x = {"title": {"text": x_title}, "automargin": True, **(value_axis if horizontal else {})}
    y = {"title": {"text": y_title}, "automargin": True, **({"autorange": "reversed"} if horizontal else value_axis)}
    return {"data": [], "layout": {
        "title": {"text": title, "x": 0, "xanchor": "left", "y": 1, "yref": "container", "yanchor": "top",
                  "pad": {"t": 12}},
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
        "margin": {"l": 60, "r": 20, "t": 84 if legend else 54, "b": 50}, "height": height,
        "showlegend": legend,
        "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.02, "yanchor": "bottom"},
        "hovermode": "closest", "xaxis": x, "yaxis": y}}


def _when(t: datetime, granularity: str) -> str:
    return t.strftime("%Y-%m-%d %H:%M") if granularity == "hour" else t.strftime("%Y-%m-%d")


def _groups(chart: Chart):
    """(prefix, rows as dicts) per org when the chart holds several orgs side by side (the org column)."""
    cols = chart.columns
    rows = [dict(zip(cols, r, strict=True)) for r in chart.rows]
    if "org" not in cols:
        yield "", rows
        return
    by_org: dict[str, list[dict]] = {}
    for r in rows:
        by_org.setdefault(r["org"], []).append(r)
    for org in sorted(by_org):
        yield f"{org} · ", by_org[org]


def _user_label(r: dict) -> str:
    return f"{r['org']} · {r['email']}" if "org" in r else r["email"]


def monthly(chart: Chart) -> dict:
    fig = _base("Monthly usage: inference vs training (last 12 months)", "Month (UTC)", TOKENS_AXIS)
    for prefix, rows in _groups(chart):
        months = [r["month"].strftime("%Y-%m") for r in rows]
        for kind in ("tokens", "training"):
            fig["data"].append({"type": "bar", "x": months, "y": [r[kind] for r in rows],
                                "name": prefix + KIND_LABEL[kind], "hovertemplate": HOVER})
    fig["layout"]["barmode"] = "group"
    fig["layout"]["xaxis"]["type"] = "category"
    return fig


def over_time(chart: Chart, granularity: str) -> dict:
    unit = {"hour": "Hour (UTC)", "day": "Day (UTC)", "week": "Week starting Monday (UTC)",
            "month": "Month (UTC)"}[granularity]
    fig = _base(f"Usage over time, per {granularity}", unit, f"{TOKENS_AXIS} per {granularity}")
    for prefix, rows in _groups(chart):
        by_kind: dict[str, list[dict]] = {}
        for r in rows:
            by_kind.setdefault(r["kind"], []).append(r)
        for kind in sorted(by_kind):
            part = by_kind[kind]
            fig["data"].append({"type": "scatter", "mode": "lines+markers",
                                "x": [_when(r["period"], granularity) for r in part],
                                "y": [r["billed_tokens"] for r in part], "name": prefix + KIND_LABEL.get(kind, kind),
                                "hovertemplate": HOVER})
    return fig


def top_users(chart: Chart, n: int) -> dict:
    rows = [dict(zip(chart.columns, r, strict=True)) for r in chart.rows]
    fig = _base(f"Top {n} users in the range", TOKENS_AXIS, "User", horizontal=True,
                height=max(300, 28 * len(rows) + 120), legend=False)
    fig["data"].append({"type": "bar", "orientation": "h", "x": [r["billed_tokens"] for r in rows],
                        "y": [_user_label(r) for r in rows], "name": "Billed tokens",
                        "hovertemplate": "%{y}: %{x:,} tokens<extra></extra>"})
    return fig


def by_model(chart: Chart) -> dict:
    several = "org" in chart.columns
    fig = _base("Usage by model", "Model", TOKENS_AXIS, legend=several)
    for prefix, rows in _groups(chart):
        fig["data"].append({"type": "bar", "x": [r["model"] for r in rows], "y": [r["billed_tokens"] for r in rows],
                            "name": prefix.strip(" ·") or "Billed",
                            "hovertemplate": "%{x}: %{y:,} tokens<extra></extra>"})
    fig["layout"]["barmode"] = "group"
    return fig


def assigned_vs_used(chart: Chart) -> dict:
    """Horizontal pairs of bars, one row per user: long e-mails stay readable at 800 px."""
    rows = [dict(zip(chart.columns, r, strict=True)) for r in chart.rows]
    fig = _base("Assigned vs used this month, per user (top 30 by use)", "Tokens", "User", horizontal=True,
                height=max(320, 26 * len(rows) + 150))
    labels = [_user_label(r) for r in rows]
    fig["data"] += [
        {"type": "bar", "orientation": "h", "y": labels, "x": [r["assigned"] for r in rows],
         "name": "Assigned (monthly cap)", "hovertemplate": "%{y}: %{x:,} assigned<extra></extra>"},
        {"type": "bar", "orientation": "h", "y": labels, "x": [r["used"] for r in rows], "name": "Used this month",
         "hovertemplate": "%{y}: %{x:,} used<extra></extra>"},
    ]
    fig["layout"]["barmode"] = "group"
    fig["layout"]["yaxis"]["type"] = "category"
    return fig


def figures(page, granularity: str, top: int) -> dict[str, dict]:
    """Every figure of the page (services.analytics.statistics.StatsPage), by chart key."""
    return {"monthly": monthly(page.monthly), "over_time": over_time(page.over_time, granularity),
            "top_users": top_users(page.top_users, top), "models": by_model(page.models),
            "assigned": assigned_vs_used(page.assigned)}

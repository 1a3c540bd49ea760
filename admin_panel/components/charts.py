"""Plotly figures for the Token Statistics page, built from the small frames of services.statistics.

Colours and fonts come from rx.plotly's light/dark template (it follows the colour mode); the figures only set
transparent backgrounds, titles, axis titles with units and readable number formats.

Each figure is assembled as one plain dict and validated once by `go.Figure(spec)`: Plotly's incremental
`add_*`/`update_*` calls validate every property path again and cost ~8 ms a chart (~40 ms of CPU per
Statistics page, the page's largest cost under load); one validation of the finished dict costs < 1 ms.
"""

import pandas as pd
import plotly.graph_objects as go

KIND_LABEL = {"tokens": "Inference", "training": "Training"}
TOKENS_AXIS = "Billed tokens"


def empty() -> go.Figure:
    """A figure without Plotly's default template: rx.plotly supplies the (light/dark) template in the browser,
    so a template in the figure only adds ~5 KB to the tab's pickled state and ~6.5 KB to every delta."""
    return go.Figure({"data": [], "layout": {"template": {}}})


def _figure(traces: list[dict], title: str, x_title: str, y_title: str, *, horizontal: bool = False,
            **layout) -> go.Figure:
    xaxis = {"title": {"text": x_title}, "automargin": True}
    yaxis = {"title": {"text": y_title}, "automargin": True}
    if horizontal:
        xaxis["tickformat"] = "~s"
        yaxis["autorange"] = "reversed"
    else:
        yaxis.update(tickformat="~s", rangemode="tozero")
    base = {
        "template": {}, "title": {"text": title, "x": 0, "xanchor": "left"},
        "paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
        "margin": {"l": 60, "r": 20, "t": 50, "b": 50}, "height": 340,
        "legend": {"orientation": "h", "y": -0.2}, "hovermode": "closest", "xaxis": xaxis, "yaxis": yaxis,
    }
    for key, value in layout.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return go.Figure({"data": traces, "layout": base})


def _groups(frame: pd.DataFrame):
    """(prefix, rows) per org when the frame holds several orgs side by side."""
    if "org" in frame.columns:
        for org, rows in frame.groupby("org", sort=True):
            yield f"{org} · ", rows
    else:
        yield "", frame


def _ints(series: pd.Series) -> pd.Series:
    return series.astype("int64")


def monthly(frame: pd.DataFrame) -> go.Figure:
    traces = []
    for prefix, rows in _groups(frame):
        for kind in ("tokens", "training"):
            traces.append({"type": "bar", "x": rows["month"].dt.strftime("%Y-%m"), "y": _ints(rows[kind]),
                           "name": prefix + KIND_LABEL[kind],
                           "hovertemplate": "%{x}: %{y:,} tokens<extra>%{fullData.name}</extra>"})
    return _figure(traces, "Monthly usage: inference vs training (last 12 months)", "Month (UTC)", TOKENS_AXIS,
                   barmode="group")


def over_time(frame: pd.DataFrame, granularity: str) -> go.Figure:
    unit = {"hour": "Hour (UTC)", "day": "Day (UTC)", "week": "Week starting Monday (UTC)",
            "month": "Month (UTC)"}[granularity]
    traces = []
    for prefix, rows in _groups(frame):
        for kind, part in rows.groupby("kind", sort=True):
            traces.append({"type": "scatter", "x": part["period"], "y": _ints(part["billed_tokens"]),
                           "mode": "lines+markers", "name": prefix + KIND_LABEL.get(kind, kind),
                           "hovertemplate": "%{x}: %{y:,} tokens<extra>%{fullData.name}</extra>"})
    return _figure(traces, f"Usage over time, per {granularity}", unit, f"{TOKENS_AXIS} per {granularity}")


def top_users(frame: pd.DataFrame, n: int) -> go.Figure:
    label = frame["email"] if "org" not in frame.columns else frame["org"] + " · " + frame["email"]
    trace = {"type": "bar", "x": _ints(frame["billed_tokens"]), "y": label, "orientation": "h",
             "name": "Billed tokens", "hovertemplate": "%{y}: %{x:,} tokens<extra></extra>"}
    return _figure([trace], f"Top {n} users in the range", TOKENS_AXIS, "User", horizontal=True,
                   height=max(300, 28 * len(frame) + 120), showlegend=False)


def by_model(frame: pd.DataFrame) -> go.Figure:
    traces = [{"type": "bar", "x": rows["model"], "y": _ints(rows["billed_tokens"]),
               "name": prefix.strip(" ·") or "Billed", "hovertemplate": "%{x}: %{y:,} tokens<extra></extra>"}
              for prefix, rows in _groups(frame)]
    return _figure(traces, "Usage by model", "Model", TOKENS_AXIS, barmode="group", showlegend="org" in frame.columns)


def assigned_vs_used(frame: pd.DataFrame) -> go.Figure:
    label = frame["email"] if "org" not in frame.columns else frame["org"] + " · " + frame["email"]
    traces = [
        {"type": "bar", "x": label, "y": _ints(frame["assigned"]), "name": "Assigned (monthly cap)",
         "hovertemplate": "%{x}: %{y:,} assigned<extra></extra>"},
        {"type": "bar", "x": label, "y": _ints(frame["used"]), "name": "Used this month",
         "hovertemplate": "%{x}: %{y:,} used<extra></extra>"},
    ]
    return _figure(traces, "Assigned vs used this month, per user (top 30 by use)", "User", "Tokens",
                   barmode="group", xaxis={"tickangle": -35},
                   legend={"y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"})  # above: the long
    # rotated e-mails below the axis would run into a legend under the plot

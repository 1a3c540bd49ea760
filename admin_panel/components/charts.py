"""Plotly figures for the Token Statistics page, built from the small frames of services.statistics.

Colours and fonts come from rx.plotly's light/dark template (it follows the colour mode); the figures only set
transparent backgrounds, titles, axis titles with units and readable number formats.
"""

import pandas as pd
import plotly.graph_objects as go

KIND_LABEL = {"tokens": "Inference", "training": "Training"}
TOKENS_AXIS = "Billed tokens"


def empty() -> go.Figure:
    """A figure without Plotly's default template: rx.plotly supplies the (light/dark) template in the browser,
    so a template in the figure only adds ~5 KB to the tab's pickled state and ~6.5 KB to every delta."""
    fig = go.Figure()
    fig.update_layout(template=None)
    return fig


def _base(title: str, x_title: str, y_title: str, *, horizontal: bool = False) -> go.Figure:
    fig = empty()
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"},
        paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
        margin={"l": 60, "r": 20, "t": 50, "b": 50}, height=340,
        legend={"orientation": "h", "y": -0.2}, hovermode="closest",
    )
    fig.update_xaxes(title_text=x_title, automargin=True)
    fig.update_yaxes(title_text=y_title, automargin=True)
    if horizontal:
        fig.update_xaxes(tickformat="~s")
        fig.update_yaxes(autorange="reversed")
    else:
        fig.update_yaxes(tickformat="~s", rangemode="tozero")
    return fig


def _groups(frame: pd.DataFrame):
    """(prefix, rows) per org when the frame holds several orgs side by side."""
    if "org" in frame.columns:
        for org, rows in frame.groupby("org", sort=True):
            yield f"{org} · ", rows
    else:
        yield "", frame


def monthly(frame: pd.DataFrame) -> go.Figure:
    fig = _base("Monthly usage: inference vs training (last 12 months)", "Month (UTC)", TOKENS_AXIS)
    for prefix, rows in _groups(frame):
        for kind in ("tokens", "training"):
            fig.add_bar(x=rows["month"].dt.strftime("%Y-%m"), y=rows[kind].astype("int64"),
                        name=prefix + KIND_LABEL[kind], hovertemplate="%{x}: %{y:,} tokens<extra>%{fullData.name}</extra>")
    fig.update_layout(barmode="group")
    return fig


def over_time(frame: pd.DataFrame, granularity: str) -> go.Figure:
    unit = {"hour": "Hour (UTC)", "day": "Day (UTC)", "week": "Week starting Monday (UTC)",
            "month": "Month (UTC)"}[granularity]
    fig = _base(f"Usage over time, per {granularity}", unit, f"{TOKENS_AXIS} per {granularity}")
    for prefix, rows in _groups(frame):
        for kind, part in rows.groupby("kind", sort=True):
            fig.add_scatter(x=part["period"], y=part["billed_tokens"].astype("int64"), mode="lines+markers",
                            name=prefix + KIND_LABEL.get(kind, kind),
                            hovertemplate="%{x}: %{y:,} tokens<extra>%{fullData.name}</extra>")
    return fig


def top_users(frame: pd.DataFrame, n: int) -> go.Figure:
    fig = _base(f"Top {n} users in the range", TOKENS_AXIS, "User", horizontal=True)
    label = frame["email"] if "org" not in frame.columns else frame["org"] + " · " + frame["email"]
    fig.add_bar(x=frame["billed_tokens"].astype("int64"), y=label, orientation="h", name="Billed tokens",
                hovertemplate="%{y}: %{x:,} tokens<extra></extra>")
    fig.update_layout(height=max(300, 28 * len(frame) + 120), showlegend=False)
    return fig


def by_model(frame: pd.DataFrame) -> go.Figure:
    fig = _base("Usage by model", "Model", TOKENS_AXIS)
    for prefix, rows in _groups(frame):
        fig.add_bar(x=rows["model"], y=rows["billed_tokens"].astype("int64"), name=prefix.strip(" ·") or "Billed",
                    hovertemplate="%{x}: %{y:,} tokens<extra></extra>")
    fig.update_layout(barmode="group", showlegend="org" in frame.columns)
    return fig


def assigned_vs_used(frame: pd.DataFrame) -> go.Figure:
    fig = _base("Assigned vs used this month, per user (top 30 by use)", "User", "Tokens")
    label = frame["email"] if "org" not in frame.columns else frame["org"] + " · " + frame["email"]
    fig.add_bar(x=label, y=frame["assigned"].astype("int64"), name="Assigned (monthly cap)",
                hovertemplate="%{x}: %{y:,} assigned<extra></extra>")
    fig.add_bar(x=label, y=frame["used"].astype("int64"), name="Used this month",
                hovertemplate="%{x}: %{y:,} used<extra></extra>")
    fig.update_layout(barmode="group")
    fig.update_xaxes(tickangle=-35)
    return fig

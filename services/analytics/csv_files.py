"""CSV files: text cells a spreadsheet would run as a formula (starting with = + - @, tab or CR) get a leading
apostrophe; and the CSV of each Token Statistics chart, built in memory."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

import pandas as pd
from sqlmodel import Session

from services.analytics import charts
from services.analytics.stats_filter import StatsFilter
from services.core.actor import Actor
from services.core.errors import Invalid

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralize(value):
    """A text cell that a spreadsheet would evaluate is prefixed with an apostrophe; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def frame_to_csv(frame: pd.DataFrame) -> bytes:
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralize)
        elif pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d %H:%M" if (out[col].dt.hour != 0).any() else "%Y-%m-%d")
    out.columns = [neutralize(str(c)) for c in out.columns]
    return out.to_csv(index=False, lineterminator="\n").encode()


def rows_to_csv(header: list[str], rows: Iterable[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for r in rows:
        w.writerow([neutralize(r.get(c, "")) for c in header])
    return buf.getvalue()


# ------------------------------------------------------------------------------------------ chart exports
CHARTS = ("over_time", "monthly", "top_users", "models", "assigned", "per_user")


def chart_csv(db: Session, *, actor: Actor, chart: str, flt: StatsFilter, granularity: str = "day",
              top: int = 10) -> bytes:
    """The data behind one chart (or every user's usage over the range: `per_user`), as CSV."""
    if chart == "over_time":
        frame = charts.usage_over_time(db, actor=actor, flt=flt, granularity=granularity).frame
    elif chart == "monthly":
        frame = charts.monthly_by_kind(db, actor=actor, user_id=flt.user_id, model_id=flt.model_id).frame
    elif chart == "top_users":
        frame = charts.per_user(db, actor=actor, flt=flt, limit=top).frame
    elif chart == "per_user":
        frame = charts.per_user(db, actor=actor, flt=flt, limit=None).frame
    elif chart == "models":
        frame = charts.by_model(db, actor=actor, flt=flt).frame
    elif chart == "assigned":
        frame = charts.assigned_vs_used(db, actor=actor, kind=flt.kind, limit=None).frame.drop(
            columns=["billed_tokens"])
    else:
        raise Invalid("Unknown chart.", field="chart")
    return frame_to_csv(frame)

"""Token Distribution's page data: the one read behind the page, its display rows (policy values as form text,
user lines, status cards, history, run detail, preview rows), the policy form read back into changes and the
preview's arguments."""

from admin_panel.ui import formatting
from services.core.errors import Invalid
from services.core.permissions import scoped_org_id
from services.tokens.distribution import policy, runs
from services.tokens.pool import compute_summary

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


def as_text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def user_line(u: dict, kind: str) -> dict[str, str]:
    f, c = ("floor_override", "ceiling_override") if kind == "tokens" else (
        "training_floor_override", "training_ceiling_override")
    cap = u["max_tokens"] if kind == "tokens" else u["max_training_tokens"]
    return {"user_id": str(u["user_id"]), "email": u["email"], "allocation": fmt(cap),
            "floor": "" if u[f] is None else fmt(u[f]), "ceiling": "" if u[c] is None else fmt(u[c])}


def cards(ks) -> dict[str, str]:
    return {"purchased": fmt(ks.purchased), "allocated": fmt(ks.assigned), "used": fmt(ks.used_this_month),
            "unallocated": fmt(ks.unassigned)}


def history_row(r: dict) -> dict[str, str]:
    return {"id": str(r["id"]), "when": formatting.moment(r["started_at"]), "actor": r["actor"],
            "kind": r["kind"], "strategy": r["strategy_label"], "before": fmt(r["total_before"]),
            "after": fmt(r["total_after"]), "changed": str(r["changed"])}


def detail(d: dict) -> dict[str, str]:
    return {"id": str(d["id"]), "when": formatting.moment(d["started_at"]), "actor": d["actor"],
            "strategy": d["strategy_label"], "kind": d["kind"], "before": fmt(d["total_before"]),
            "after": fmt(d["total_after"]), "changed": str(d["changed"])}


def detail_rows(d: dict) -> list[dict[str, str]]:
    return [{"email": c["email"], "before": fmt(c["before"]), "after": fmt(c["after"]),
             "change": f"{c['change']:+,}"} for c in d["changes"]]


def preview_rows(part: list[tuple]) -> list[dict[str, str]]:
    return [{"email": e, "current": fmt(c), "proposed": fmt(p), "change": f"{p - c:+,}", "warnings": w}
            for _, e, c, p, w in part]


def policy_changes(form_data: dict, current: dict[str, str], bool_fields: tuple[str, ...]) -> dict:
    """The policy form's fields that differ from the shown policy (booleans as on/off switches; an empty
    ceiling or near-ceiling bump clears it)."""
    changes = {}
    for f in policy.EDITABLE:
        if f in bool_fields:
            changes[f] = form_data.get(f) in ("on", True)
        elif f in form_data:
            v = form_data[f]
            changes[f] = v.strip() if isinstance(v, str) else v
    changes = {f: v for f, v in changes.items() if as_text(v) != current.get(f, "")}
    for f in ("ceiling", "near_ceiling_bump_pct"):
        if changes.get(f) == "":
            changes[f] = None
    return changes


def read_page(db, actor, kind: str, history_page: int, history_size: int):
    """Policy, pool summary, special users and one page of the run history of a kind (one read transaction)."""
    pol = policy.get_policy(db, actor=actor, kind=kind)
    summary = compute_summary(db, scoped_org_id(db, actor)).kind(kind)
    special = policy.special_users(db, actor=actor, limit=100)
    hist, total = runs.list_runs(db, actor=actor, page=history_page, page_size=history_size)
    return pol, summary, special, hist, total


def plan_args(kind: str, strategy: str, lookback_text: str) -> tuple[str, str, int | None]:
    """Distribute-now's arguments; the usage strategy needs a lookback in days."""
    lookback = None
    if strategy == "usage":
        if not lookback_text.isdigit():
            raise Invalid("Lookback must be from 1 to 366 days.")
        lookback = int(lookback_text)
    return kind, strategy, lookback

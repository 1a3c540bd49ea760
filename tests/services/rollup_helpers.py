"""The statistics rollups (org × kind × day, org × model × kind × month, per-user month and year totals with both
kinds side by side) recomputed in plain Python from ledger rows, and read back from the database — for the
rollup-equals-ledger tests."""

from collections import defaultdict
from datetime import UTC, date

from sqlmodel import select

from models import UsageMonthly, UsageOrgDaily, UsageUserMonthTotal, UsageUserYearTotal


def expected_statistics_rollups(events) -> dict:
    """`events`: objects with org_id, user_id, model_id, kind, occurred_at (aware), prompt/completion/billed tokens."""
    org_daily, monthly = defaultdict(lambda: [0, 0]), defaultdict(lambda: [0, 0, 0, 0])
    user_month, user_year = defaultdict(lambda: [0, 0, 0, 0]), defaultdict(lambda: [0, 0, 0, 0])
    for e in events:
        t = e.occurred_at.astimezone(UTC)
        d = org_daily[(e.org_id, e.kind, t.date())]
        d[0] += e.billed_tokens
        d[1] += 1
        m = monthly[(e.org_id, e.model_id, e.kind, date(t.year, t.month, 1))]
        for i, v in enumerate((e.prompt_tokens, e.completion_tokens, e.billed_tokens, 1)):
            m[i] += v
        col = 0 if e.kind == "tokens" else 1
        for acc, period in ((user_month, date(t.year, t.month, 1)), (user_year, date(t.year, 1, 1))):
            row = acc[(e.org_id, e.user_id, period)]
            row[col] += e.billed_tokens
            row[col + 2] += 1
    as_tuples = lambda acc: {k: tuple(v) for k, v in acc.items()}  # noqa: E731
    return {"org_daily": as_tuples(org_daily), "model_monthly": as_tuples(monthly),
            "user_month_total": as_tuples(user_month), "user_year_total": as_tuples(user_year)}


def actual_statistics_rollups(session) -> dict:
    totals = lambda r: (r.tokens, r.training, r.tokens_events, r.training_events)  # noqa: E731
    return {
        "org_daily": {(r.org_id, r.kind, r.day): (r.billed_tokens, r.events)
                      for r in session.exec(select(UsageOrgDaily))},
        "model_monthly": {(r.org_id, r.model_id, r.kind, r.month): (r.prompt_tokens, r.completion_tokens,
                                                                     r.billed_tokens, r.events)
                          for r in session.exec(select(UsageMonthly))},
        "user_month_total": {(r.org_id, r.user_id, r.month): totals(r)
                             for r in session.exec(select(UsageUserMonthTotal))},
        "user_year_total": {(r.org_id, r.user_id, r.year): totals(r) for r in session.exec(select(UsageUserYearTotal))},
    }

"""The demo seed is deterministic and consistent (rollups equal the ledger, every account works)."""

from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import Session, select

from models import EnterpriseRequest, Organization, Purchase, TokenRequest, UsageEvent, UsageUserMonthly, User
from services.core.audit import verify_chain
from services.core.passwords import verify_password
from services.ops.demo import ACCOUNTS, DEMO_ORGS, DEMO_PASSWORD, seed_demo
from services.tokens.pool import compute_summary

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


def _fingerprint(session: Session):
    return (
        session.exec(select(User.email, User.role, User.max_tokens, User.paid).order_by(User.email)).all(),
        session.exec(select(func.count(UsageEvent.id), func.sum(UsageEvent.billed_tokens))).one(),
        session.exec(select(TokenRequest.user_id, TokenRequest.amount, TokenRequest.status)
                     .order_by(TokenRequest.id)).all(),
    )


def test_seed_is_deterministic_and_consistent(engine, tmp_path):
    from services.core.db import make_engine
    from services.ops.migrate import upgrade

    with Session(engine) as s:
        counts = seed_demo(s, now=NOW, scale=0.05)
        s.commit()
        first = _fingerprint(s)
        # three demo orgs, plus Umbrella Health from the activated enterprise request
        assert counts["orgs"] == 3 and s.exec(select(Organization)).all().__len__() == 4
        assert s.exec(select(Purchase)).all().__len__() == 7
        assert sorted(s.exec(select(EnterpriseRequest.org_name, EnterpriseRequest.status)).all()) == [
            ("Hooli Cloud", "pending"), ("Umbrella Health", "activated")]
        statuses = {r.status for r in s.exec(select(TokenRequest)).all()}
        assert statuses == {"pending", "approved", "denied"}
        for _, email in ACCOUNTS:
            u = s.exec(select(User).where(User.email == email)).one()
            assert verify_password(u.password_hash, DEMO_PASSWORD) and not u.mfa_enabled
        ledger = s.exec(select(func.sum(UsageEvent.billed_tokens))).one()
        rolled = s.exec(select(func.sum(UsageUserMonthly.billed_tokens))).one()
        assert ledger == rolled and ledger > 0
        months = s.exec(select(func.count(func.distinct(UsageUserMonthly.month)))).one()
        assert months >= 12
        assert verify_chain(s).intact
        for org in s.exec(select(Organization).where(Organization.name.in_([o.name for o in DEMO_ORGS]))).all():
            # a living demo: every pool is in use and none is exhausted
            pool = compute_summary(s, org.id, NOW).tokens
            assert 0 < pool.pool_used < pool.purchased, (org.name, pool)

    other_url = f"sqlite:///{tmp_path / 'again.db'}"
    upgrade(other_url)
    other = make_engine(other_url)
    with Session(other) as s:
        seed_demo(s, now=NOW, scale=0.05)
        s.commit()
        assert _fingerprint(s) == first
    other.dispose()

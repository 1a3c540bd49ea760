"""User menu → New recovery codes: confirmation, a fresh MFA code (step-up), ten new codes shown once; the
old codes stop working and the new ones work."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pyotp
import pytest
from sqlmodel import Session, select

from models import AuditEvent, AuthSession, RecoveryCode, utcnow
from services.auth import mfa, sessions
from services.core.actor import Actor, system_actor
from services.core.db import get_engine
from services.core.errors import Forbidden, Invalid

from .conftest import sign_in, sub, totp_secret, with_token


def _enrolled(people):
    """The admin with MFA on (its first recovery codes kept) and a signed-in, verified tab."""
    token = sign_in(people.admin.email)
    with Session(get_engine(), expire_on_commit=False) as s:
        enrolment = mfa.begin_enrolment(s, user_id=people.admin.id)
        first = mfa.confirm_enrolment(s, user_id=people.admin.id, code=pyotp.TOTP(enrolment.secret).now())
        sessions.mark_mfa_verified(s, sessions.resolve(s, token).session_id)
        s.commit()
    return token, first


def test_new_recovery_codes_after_a_fresh_code(root, people):
    from admin_panel.shell.recovery import RecoveryCodesState
    from admin_panel.shell.stepup import StepUpState

    token, first = _enrolled(people)
    with_token(root, token)
    st = sub(root, RecoveryCodesState)
    st.ask()
    assert st.confirm_open and st.codes == []
    with Session(get_engine()) as s:  # the verification is an hour old: a fresh code is asked for
        for row in s.exec(select(AuthSession)).all():
            row.mfa_verified_at = utcnow() - timedelta(hours=1)
            s.add(row)
        s.commit()
    asyncio.run(st.regenerate())
    step = sub(root, StepUpState)
    assert step.is_open and step._retry.endswith("regenerate") and not st.confirm_open and st.codes == []
    retry = asyncio.run(step.verify({"code": pyotp.TOTP(totp_secret(people.admin.id)).at(time.time() + 30)}))
    assert retry is not None and retry.fn.__name__ == "regenerate"
    asyncio.run(st.regenerate())
    assert st.confirm_open and len(st.codes) == 10 and len(set(st.codes)) == 10 and not set(st.codes) & set(first)
    with Session(get_engine()) as s:
        assert len(s.exec(select(RecoveryCode).where(RecoveryCode.user_id == people.admin.id)).all()) == 10
        assert not mfa.verify(s, user_id=people.admin.id, code=first[0])  # the old codes no longer work
        assert mfa.verify(s, user_id=people.admin.id, code=st.codes[0])
        s.commit()
        last = s.exec(select(AuditEvent).order_by(AuditEvent.id.desc())).all()
        assert "mfa.recovery_codes" in [a.action for a in last[:3]]
    st.close()
    assert st.codes == [] and not st.confirm_open


def test_a_person_without_mfa_or_the_system_gets_no_codes(people):
    with Session(get_engine()) as s:
        with pytest.raises(Forbidden):
            mfa.regenerate_recovery_codes(s, actor=system_actor(people.org_id))
        member = Actor(people.member.id, "member", people.org_id, mfa_verified_at=utcnow())
        with pytest.raises(Invalid, match="not set up"):
            mfa.regenerate_recovery_codes(s, actor=member)

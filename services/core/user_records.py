"""Looking up a user by e-mail and the snapshot of a user the audit trail keeps (no rules here)."""

from sqlalchemy import func
from sqlmodel import Session, col, select

from models import User


def user_snapshot(u: User) -> dict:
    return {"email": u.email, "name": u.name, "role": u.role, "org_id": u.org_id, "paid": u.paid,
            "banned": u.banned, "verified": u.verified, "max_tokens": u.max_tokens,
            "max_training_tokens": u.max_training_tokens}


def find_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(func.lower(col(User.email)) == email.lower())).first()

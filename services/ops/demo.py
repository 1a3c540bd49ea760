"""Deterministic demo data: three organizations, their people, purchases, a year of usage, requests, audit.

Runs through the real services (so the audit chain and the rules hold); usage goes through the bulk path
(ledger + rollups in one transaction per chunk).
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from models import Organization, Role, TokenRequest, UsageEvent, User, utcnow
from services.core.actor import Actor, system_actor
from services.core.passwords import hash_password
from services.ops.demo_onboarding import seed_requests
from services.orgs import organizations
from services.orgs.catalog import ensure_default_models
from services.tokens import allocation
from services.usage import ledger
from services.usage.ledger import billed_tokens
from services.users import accounts

DEMO_PASSWORD = "steward-demo"
SUPER_EMAIL = "super@steward.example"

FIRST = ["Ada", "Alan", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Tim", "Radia", "Guido",
         "Hedy", "Donald", "Katherine", "John", "Mary", "Edsger", "Sophie", "Claude", "Annie", "Niklaus", "Jean",
         "Bjarne", "Lynn", "Whitfield", "Karen", "James", "Shafi", "Leslie"]
LAST = ["Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen", "Berners-Lee",
        "Perlman", "Rossum", "Lamarr", "Knuth", "Johnson", "McCarthy", "Keller", "Dijkstra", "Wilson", "Shannon",
        "Easley", "Wirth", "Sammet", "Stroustrup", "Conway", "Diffie", "Jones", "Gosling", "Goldwasser", "Lamport"]


@dataclass(frozen=True)
class DemoOrg:
    name: str
    domain: str
    users: int
    country: str
    tokens_per_user: int


DEMO_ORGS = (
    DemoOrg("Acme Corp", "acme.example", 200, "United States", 500_000),
    DemoOrg("Globex Research", "globex.example", 40, "Germany", 1_000_000),
    DemoOrg("Initech Labs", "initech.example", 8, "Canada", 250_000),
)

ACCOUNTS = (
    ("super admin", SUPER_EMAIL),
    ("org admin (Acme Corp)", "admin@acme.example"),
    ("finance (Acme Corp)", "finance@acme.example"),
    ("member (Acme Corp)", "member@acme.example"),
    ("org admin (Globex Research)", "admin@globex.example"),
    ("org admin (Initech Labs)", "admin@initech.example"),
    ("no organization yet (requests one)", "guest@steward.example"),
)


def is_seeded(session: Session) -> bool:
    return session.exec(select(Organization.id).limit(1)).first() is not None


def _round_2m(n: int) -> int:
    return max(2_000_000, -(-n // 2_000_000) * 2_000_000)


def _people(rng: random.Random, spec: DemoOrg) -> list[tuple[str, str, str]]:
    fixed = [("admin", "Org Admin", Role.admin.value)]
    if spec.users >= 20:
        fixed += [("finance", "Finance Desk", Role.finance.value), ("member", "Demo Member", Role.member.value),
                  ("ops-admin", "Ops Admin", Role.admin.value)]
    else:
        fixed += [("member", "Demo Member", Role.member.value)]
    out = [(f"{local}@{spec.domain}", name, role) for local, name, role in fixed]
    taken = {e for e, _, _ in out}
    while len(out) < spec.users:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first.lower()}.{last.lower()}@{spec.domain}"
        if email in taken:
            email = f"{first.lower()}.{last.lower()}{len(out)}@{spec.domain}"
        taken.add(email)
        out.append((email, f"{first} {last}", Role.member.value))
    return out


def _usage_for_org(rng, org_id, people, models, now, start) -> list[UsageEvent]:
    chat = [m for m in models if m.name != "text-embedding-3-large"]
    embed = next(m for m in models if m.name == "text-embedding-3-large")
    weights = [5, 9, 4, 2, 3, 2][: len(chat)]
    events: list[UsageEvent] = []
    seq = 0
    for user in people:
        heavy = rng.random() < 0.05
        # daily billed target so a normal month uses 20–60% of the cap, heavy users 70–95%
        monthly_share = rng.uniform(0.7, 0.95) if heavy else rng.uniform(0.2, 0.6)
        daily = max(500, int(user.max_tokens * monthly_share / 22))
        trains = rng.random() < 0.2
        day = start
        while day <= now:
            weekend = day.weekday() >= 5
            if rng.random() < (0.15 if weekend else 0.85):
                for _ in range(rng.randint(1, 3)):
                    model = rng.choices(chat, weights)[0]
                    target = daily / 2 * rng.uniform(0.4, 1.6)
                    rate = (0.7 * model.prompt_rate_milli + 0.3 * model.completion_rate_milli) / 1000
                    total = max(20, int(target / max(rate, 0.05)))
                    prompt = int(total * rng.uniform(0.6, 0.8))
                    completion = total - prompt
                    t = day.replace(hour=rng.randint(7, 19), minute=rng.randint(0, 59), second=rng.randint(0, 59))
                    if t > now:
                        continue
                    seq += 1
                    events.append(UsageEvent(
                        idempotency_key=f"demo-{org_id}-{seq}", org_id=org_id, user_id=user.id, model_id=model.id,
                        kind="tokens", prompt_tokens=prompt, completion_tokens=completion,
                        billed_tokens=billed_tokens(model, prompt, completion), occurred_at=t,
                        ip=f"10.{org_id}.{user.id % 250}.{rng.randint(2, 250)}", recorded_at=t))
            if trains and not weekend and rng.random() < 0.08:
                prompt = rng.randint(20_000, 200_000)
                t = day.replace(hour=rng.randint(8, 18), minute=rng.randint(0, 59))
                if t <= now:
                    seq += 1
                    events.append(UsageEvent(
                        idempotency_key=f"demo-{org_id}-{seq}", org_id=org_id, user_id=user.id, model_id=embed.id,
                        kind="training", prompt_tokens=prompt, completion_tokens=0,
                        billed_tokens=billed_tokens(embed, prompt, 0), occurred_at=t, ip="", recorded_at=t))
            day += timedelta(days=1)
    return events


def seed_demo(session: Session, *, seed: int = 42, now: datetime | None = None, scale: float = 1.0) -> dict:
    """Create the demo data in the session's transaction. Returns counts."""
    rng = random.Random(seed)
    now = now or utcnow()
    system = system_actor()
    models = ensure_default_models(session)
    pw = hash_password(DEMO_PASSWORD)  # one hash shared by every demo account keeps seeding fast
    accounts.create_user(session, actor=system, email=SUPER_EMAIL, name="Sam Super", role=Role.super_admin.value,
                      paid=True, verified=True, password_hash=pw)
    start = (now - timedelta(days=365)).replace(hour=0, minute=0, second=0, microsecond=0)
    counts = {"orgs": 0, "users": 1, "events": 0, "requests": 0}
    for spec in DEMO_ORGS:
        n_users = max(3, int(spec.users * scale))
        org = organizations.create_org(session, actor=system, name=spec.name, email_domain=spec.domain,
                                       country=spec.country, billing_address=f"1 {spec.name} Way, {spec.country}",
                                       contact_name="Org Admin", email=f"admin@{spec.domain}", phone="+1 555 0100")
        if org.id is None:  # create_org flushes: the org has its id
            raise RuntimeError(f"Organization {spec.name} was not stored.")
        org.created_at = start - timedelta(days=30)
        actor = system_actor(org.id)
        total = _round_2m(n_users * spec.tokens_per_user)
        # The pool is what unexpired purchases hold minus the usage since the earliest of them began: a
        # quarterly purchase about to expire and a larger renewal leave the demo pool roughly half used.
        organizations.record_purchase(session, actor=actor, org_id=org.id, tokens=_round_2m(total),
                             training_tokens=2_000_000, payer_email=f"finance@{spec.domain}",
                             comment="Quarterly enterprise purchase", purchased_at=now - timedelta(days=75),
                             expires_at=now + timedelta(days=rng.randint(20, 45)))
        organizations.record_purchase(session, actor=actor, org_id=org.id, tokens=_round_2m(total * 2),
                             training_tokens=_round_2m(total // 10), payer_email=f"finance@{spec.domain}",
                             comment="Annual renewal", purchased_at=now - timedelta(days=30),
                             expires_at=now + timedelta(days=335))
        people = []
        for email, name, role in _people(rng, spec)[:n_users]:
            cap = spec.tokens_per_user * rng.choice((1, 1, 1, 2)) if role == Role.member.value else spec.tokens_per_user
            u = accounts.create_user(session, actor=actor, email=email, name=name, role=role, paid=True, verified=True,
                                  max_tokens=cap, max_training_tokens=rng.choice((0, 100_000, 500_000)),
                                  password_hash=pw).value
            if not isinstance(u, User):  # Result.value is untyped
                raise TypeError(f"create_user returned {u!r}, not a user.")
            u.created_at = start - timedelta(days=rng.randint(1, 30))
            u.last_login_at = now - timedelta(hours=rng.randint(1, 24 * 20))
            people.append(u)
        people[-1].paid = False  # one unpaid user awaiting activation per org
        people[-1].max_tokens = 0
        if len(people) > 5:
            people[-2].banned, people[-2].ban_reason = True, "Left the company"
            people[-3].pinned = True
        session.flush()
        events = _usage_for_org(rng, org.id, [p for p in people if p.paid], models, now, start)
        for i in range(0, len(events), 5000):
            ledger.bulk_load(session, events[i:i + 5000])
        counts["events"] += len(events)
        counts["requests"] += _requests(session, rng, org, people, now)
        counts["orgs"] += 1
        counts["users"] += len(people)

    counts["enterprise_requests"] = seed_requests(session, pw=pw, now=now)
    return counts


def _requests(session: Session, rng: random.Random, org, people: list[User], now: datetime) -> int:
    admin = next(p for p in people if p.role == Role.admin.value)
    admin_actor = Actor(admin.id, admin.role, org.id, email=admin.email, ip="10.0.0.1", mfa_verified_at=utcnow())
    members = [p for p in people if p.role == Role.member.value and p.paid and not p.banned]
    made = 0
    for i, who in enumerate(members[:6]):
        if who.id is None:  # only stored users ask for tokens
            continue
        status = ("pending", "pending", "approved", "denied", "approved", "pending")[i]
        amount = rng.choice((250_000, 500_000, 1_000_000))
        created = now - timedelta(days=rng.randint(1, 20), hours=rng.randint(0, 12))
        req = TokenRequest(org_id=org.id, user_id=who.id, kind="tokens", amount=amount,
                           reason=rng.choice(("Quarter-end reporting needs more drafting.",
                                              "Running a large document review this month.",
                                              "New project onboarding; evaluating models.")),
                           status=status, allocation_at_request=who.max_tokens,
                           used_at_request=int(who.max_tokens * rng.uniform(0.6, 0.95)), created_at=created)
        if status != "pending":
            req.reviewer_id, req.reviewed_at = admin.id, created + timedelta(hours=3)
            req.approved_amount = amount if status == "approved" else None
            req.review_note = "Approved for this month." if status == "approved" else "Please use the smaller model."
            if status == "approved":
                allocation.set_allocation(session, actor=admin_actor, user_id=who.id,
                                          max_tokens=who.max_tokens + amount)
        session.add(req)
        made += 1
    session.flush()
    return made


def accounts_text() -> str:
    lines = [f"Demo accounts (password for all: {DEMO_PASSWORD}):"]
    lines += [f"  {role:<28} {email}" for role, email in ACCOUNTS]
    lines.append("Admins, finance and super admins enrol TOTP MFA at their first sign-in.")
    return "\n".join(lines)


"""The command line: migrate, create-superadmin, seed-demo (first start only), verify-audit."""

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from models import Organization, Role, UsageEvent, User
from services.core.db import make_engine
from services.ops import cli


@pytest.fixture
def db_url(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("REFLEX_DB_URL", url)
    assert cli.main(["migrate"]) == 0
    return url


def test_create_superadmin(db_url, capsys):
    assert cli.main(["create-superadmin", "--email", "Boss@Example.com", "--password", "long-enough-pw"]) == 0
    assert "Super admin boss@example.com created" in capsys.readouterr().out
    with Session(make_engine(db_url)) as s:
        u = s.exec(select(User)).one()
        assert u.role == Role.super_admin.value and u.org_id is None and u.password_hash.startswith("$argon2")
    assert cli.main(["create-superadmin", "--email", "boss@example.com", "--password", "long-enough-pw"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert cli.main(["create-superadmin", "--email", "other@example.com", "--password", "short"]) == 1
    assert "at least 8 characters" in capsys.readouterr().err


def test_seed_demo_runs_on_first_start_only_and_verify_audit(db_url, capsys):
    assert cli.main(["seed-demo", "--if-empty", "--scale", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "Seeded 3 organizations" in out and "admin@acme.example" in out and "steward-demo" in out
    engine = make_engine(db_url)
    with Session(engine) as s:
        orgs_before = s.exec(select(Organization)).all().__len__()
        events_before = s.exec(select(UsageEvent.id)).all().__len__()
    assert orgs_before == 4 and events_before > 1000  # 3 demo orgs + the activated enterprise request
    assert cli.main(["seed-demo", "--if-empty"]) == 0
    assert "already present" in capsys.readouterr().out
    assert cli.main(["seed-demo"]) == 1
    with Session(engine) as s:
        assert s.exec(select(UsageEvent.id)).all().__len__() == events_before
    assert cli.main(["verify-audit"]) == 0
    assert "intact" in capsys.readouterr().out
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_event SET action = 'forged' WHERE seq = 2"))
    assert cli.main(["verify-audit"]) == 2
    assert "broken at entry #2" in capsys.readouterr().out
    engine.dispose()


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("migrate", "seed-demo", "create-superadmin", "verify-audit"):
        assert cmd in out

"""bench/generate.py writes rollups that equal its ledger, bucket by bucket (the benchmark's figures rest on it)."""

from sqlmodel import Session, select

from bench import generate
from models import UsageEvent
from services.core.db import make_engine
from tests.services.test_usage_ledger import actual_rollups, expected_rollups


def test_generated_rollups_equal_the_generated_ledger(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    assert generate.main(["--url", url, "--events", "4000", "--audit", "50", "--sign-ins", "20", "--users", "30",
                          "--check"]) == 0
    assert "MISMATCH" not in capsys.readouterr().out
    engine = make_engine(url)
    with Session(engine) as s:
        rows = list(s.exec(select(UsageEvent)).all())
    assert len(rows) == 4000
    expected, actual = expected_rollups(rows), actual_rollups(engine)
    assert set(expected) == set(actual)
    for name in expected:
        assert actual[name] == expected[name], name
    assert len({k[2] for k in actual["user_year_total"]}) == 2  # a year back from now straddles a new year
    engine.dispose()

"""CSV exports: formula neutralization, chart CSVs, streamed raw/log exports with progress, cancel and owner."""

import csv
import io
import threading
import time
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session

from models import UsageEvent
from services.analytics import audit_log, csv_files, export_jobs, log_exports, logs_filter, stats_filter, usage_log
from services.core.errors import Conflict, Forbidden, Invalid, NotFound
from services.orgs import catalog
from services.usage.ledger import bulk_load

UTC = UTC
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def export_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("STEWARD_EXPORT_DIR", str(tmp_path / "exports"))
    return tmp_path / "exports"


@pytest.fixture
def usage(session, world):
    gpt = catalog.ensure_default_models(session)[0]
    world.alice.name = "=HYPERLINK(\"http://evil\")"
    session.add(world.alice)
    bulk_load(session, [UsageEvent(idempotency_key=f"e-{i}", org_id=world.org.id,
                                   user_id=(world.alice if i % 2 else world.bob).id, model_id=gpt.id, kind="tokens",
                                   prompt_tokens=i, completion_tokens=0, billed_tokens=i + 1,
                                   occurred_at=T0 + timedelta(minutes=i // 3),
                                   ip="-1+2" if i == 0 else f"10.0.0.{i}") for i in range(35)])
    bulk_load(session, [UsageEvent(idempotency_key="other", org_id=world.other_org.id, user_id=world.carol.id,
                                   model_id=gpt.id, kind="tokens", prompt_tokens=1, completion_tokens=0,
                                   billed_tokens=1, occurred_at=T0, ip="9.9.9.9")])
    session.commit()


def parse(data) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode() if isinstance(data, bytes) else data)))


def test_neutralize_every_formula_prefix():
    for bad in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert csv_files.neutralize(bad) == "'" + bad
    for ok in ("hello", "1-2", "", "a=b"):
        assert csv_files.neutralize(ok) == ok
    assert csv_files.neutralize(-5) == -5  # numbers are numbers


def test_chart_csv_neutralizes_and_matches_the_chart(session, world, usage):
    admin = world.actor(world.admin)
    f = stats_filter.make_filter(session, admin, start="2026-03-01", end="2026-03-01")
    rows = parse(csv_files.chart_csv(session, actor=admin, chart="per_user", flt=f))
    assert rows[0] == ["user_id", "email", "name", "billed_tokens", "events"]
    by_email = {r[1]: r for r in rows[1:]}
    assert by_email["alice@a.test"][2] == "'=HYPERLINK(\"http://evil\")"
    assert int(by_email["alice@a.test"][3]) == sum(i + 1 for i in range(35) if i % 2)
    assert int(by_email["bob@a.test"][3]) == sum(i + 1 for i in range(35) if i % 2 == 0)
    over = parse(csv_files.chart_csv(session, actor=admin, chart="over_time", flt=f, granularity="day"))
    assert over[0] == ["period", "kind", "billed_tokens", "events"]
    assert ["2026-03-01", "tokens", str(sum(range(1, 36))), "35"] in over
    assert parse(csv_files.chart_csv(session, actor=admin, chart="assigned", flt=f))[0] == [
        "user_id", "email", "assigned", "used"]
    with pytest.raises(Invalid):
        csv_files.chart_csv(session, actor=admin, chart="secrets", flt=f)
    with pytest.raises(Forbidden):
        csv_files.chart_csv(session, actor=world.actor(world.alice), chart="models", flt=f)


def test_raw_usage_export_streams_every_row_of_the_org(engine, session, world, usage, export_dir):
    admin = world.actor(world.admin)
    flt = logs_filter.make_filter(session, admin, start="2026-03-01", end="2026-03-01")
    plan = log_exports.plan_log_export(session, actor=admin, tab="usage", flt=flt)
    assert plan.total == 35 and plan.filename == "usage-events_2026-03-01_2026-03-01.csv"
    session.commit()  # end the test's transaction: the job reads in its own short transactions
    seen = []
    job = export_jobs.run_job(owner_id=world.admin.id, filename=plan.filename, header=plan.header, total=plan.total,
                              chunks=log_exports.log_chunks(lambda: Session(engine), actor=admin, tab="usage", flt=flt,
                                                        chunk=10),
                              on_progress=lambda j: seen.append((j.status, j.progress)))
    assert job.status == "done" and job.rows == 35
    assert [p for s, p in seen if s == "running"] == [28, 57, 85, 99] and seen[-1] == ("done", 100)
    name, data = export_jobs.read_file(job.id, owner_id=world.admin.id)
    rows = parse(data)
    assert rows[0] == usage_log.USAGE_COLUMNS and len(rows) == 36
    assert sorted(int(r[3]) for r in rows[1:]) == list(range(35))  # each event once
    assert "'-1+2" in {r[7] for r in rows[1:]} and "9.9.9.9" not in {r[7] for r in rows[1:]}
    with pytest.raises(NotFound):  # another user's export answers like a missing one
        export_jobs.read_file(job.id, owner_id=world.finance.id)
    with pytest.raises(NotFound):
        export_jobs.get_job("../../etc/passwd", owner_id=world.admin.id)


def test_cancel_stops_the_job_and_removes_the_file(engine, session, world, usage, export_dir):
    admin = world.actor(world.admin)
    flt = logs_filter.LogFilter()
    session.commit()

    def cancel_after_first(job):
        if job.status == "running" and job.rows == 10:
            with pytest.raises(NotFound):
                export_jobs.cancel(job.id, owner_id=world.finance.id)  # not theirs
            export_jobs.cancel(job.id, owner_id=world.admin.id)

    job = export_jobs.run_job(owner_id=world.admin.id, filename="x.csv", header=usage_log.USAGE_COLUMNS, total=35,
                              chunks=log_exports.log_chunks(lambda: Session(engine), actor=admin, tab="usage", flt=flt,
                                                        chunk=10), on_progress=cancel_after_first)
    assert job.status == "cancelled" and job.rows == 10
    assert export_jobs.get_job(job.id, owner_id=world.admin.id).status == "cancelled"
    with pytest.raises(Conflict):
        export_jobs.read_file(job.id, owner_id=world.admin.id)
    assert not any(p.suffix == ".csv" for p in export_dir.iterdir())


def test_log_export_rights_and_limit(session, world, usage, monkeypatch):
    fin = world.actor(world.finance)
    flt = logs_filter.LogFilter(start=date(2026, 3, 1), end=date(2026, 3, 1))
    assert log_exports.plan_log_export(session, actor=fin, tab="usage", flt=flt).total == 35  # the raw-usage export
    for tab in ("audit", "signins"):
        with pytest.raises(Forbidden):
            log_exports.plan_log_export(session, actor=fin, tab=tab, flt=flt)
    b = world.actor(world.other_admin)
    assert log_exports.plan_log_export(session, actor=b, tab="usage", flt=flt).total == 1
    monkeypatch.setattr(log_exports, "MAX_ROWS", 20)
    with pytest.raises(Invalid, match="limit is 20"):
        log_exports.plan_log_export(session, actor=world.actor(world.admin), tab="usage", flt=flt)
    audit = log_exports.plan_log_export(session, actor=world.actor(world.admin), tab="audit",
                                        flt=logs_filter.LogFilter())
    assert audit.total > 0 and audit.header == audit_log.AUDIT_COLUMNS


def _done_job(owner_id: int, rows: int = 3) -> export_jobs.Job:
    chunks = iter([[{"a": i, "b": "=cmd"} for i in range(rows)]])
    return export_jobs.run_job(owner_id=owner_id, filename="f.csv", header=["a", "b"], total=rows, chunks=chunks)


def test_download_links_are_single_use_owner_bound_and_expire(world):
    job = _done_job(world.admin.id)
    with pytest.raises(NotFound):  # only the owner gets a link
        export_jobs.download_link(job.id, owner_id=world.finance.id)
    name, url = export_jobs.download_link(job.id, owner_id=world.admin.id)
    assert name == "f.csv" and url.startswith(f"/downloads/{job.id}?token=")
    token = url.split("token=")[1]
    for bad_id, bad_token in ((job.id, token[:-1] + ("A" if token[-1] != "A" else "B")), (job.id, "short"),
                              ("../" + job.id, token), (job.id, None), (job.id, ["x" * 40])):
        with pytest.raises(NotFound):
            export_jobs.take_download(bad_id, bad_token)
    filename, path = export_jobs.take_download(job.id, token)
    with open(path) as f:
        assert filename == "f.csv" and f.read().splitlines() == ["a,b", "0,'=cmd", "1,'=cmd", "2,'=cmd"]
    with pytest.raises(NotFound):  # used up
        export_jobs.take_download(job.id, token)

    _, old = export_jobs.download_link(job.id, owner_id=world.admin.id)
    _, new = export_jobs.download_link(job.id, owner_id=world.admin.id)  # a new link replaces the older one
    with pytest.raises(NotFound):
        export_jobs.take_download(job.id, old.split("token=")[1])
    with pytest.raises(NotFound):  # expired
        export_jobs.take_download(job.id, new.split("token=")[1], now=time.time() + export_jobs.DOWNLOAD_SECONDS + 1)


def test_a_running_job_has_no_link_and_concurrent_takers_get_it_once(world):
    running = export_jobs.Job(id=export_jobs.new_job_id(), owner_id=world.admin.id, filename="r.csv", total=9)
    export_jobs._save(running)
    with pytest.raises(Conflict):
        export_jobs.download_link(running.id, owner_id=world.admin.id)
    job = _done_job(world.admin.id)
    token = export_jobs.download_link(job.id, owner_id=world.admin.id)[1].split("token=")[1]
    start, results = threading.Barrier(8), []

    def take():
        start.wait()
        try:
            results.append(export_jobs.take_download(job.id, token)[0])
        except NotFound:
            results.append(None)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("f.csv") == 1 and results.count(None) == 7


def test_the_download_route_streams_the_file_once(world):
    from starlette.testclient import TestClient

    from admin_panel.api import create_api

    job = _done_job(world.admin.id, rows=50_000)
    _, url = export_jobs.download_link(job.id, owner_id=world.admin.id)
    client = TestClient(create_api())
    r = client.get(url)
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert 'filename="f.csv"' in r.headers["content-disposition"] and r.text.count("\n") == 50_001
    again = client.get(url)
    assert again.status_code == 404 and "Start the download again" in again.text
    assert client.get(f"/downloads/{job.id}").status_code == 404  # no token

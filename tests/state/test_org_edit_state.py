"""Organizations page: the list shows assigned caps and domains; editing an org (fields, caps, allowed models)
and "work in" an org; bad input and other roles change nothing."""

import asyncio

from sqlmodel import Session, select

from models import OrgAllowedModel, Organization
from services.core.db import get_engine
from services.core.errors import Forbidden
from services.orgs.catalog import ensure_default_models
from tests.conftest import snapshot

from .conftest import enrol_and_verify, redirect_of, sign_in, sub, with_token


def run(coro):
    return asyncio.run(coro)


def _super(root, people):
    from admin_panel.features.orgs.org_edit_state import OrgEditState
    from admin_panel.features.orgs.state import OrgsState

    token = sign_in(people.super_admin.email)
    enrol_and_verify(people.super_admin.id, token)
    with_token(root, token)
    with Session(get_engine()) as s:
        ensure_default_models(s)
        s.commit()
    return sub(root, OrgsState), sub(root, OrgEditState), token


def _org(org_id):
    with Session(get_engine()) as s:
        return s.get(Organization, org_id)


def test_list_shows_domain_and_assigned(root, people):
    orgs, _, _ = _super(root, people)
    run(orgs.load())
    row = next(o for o in orgs.orgs if o["name"] == "Org A")
    assert row["domain"] == "a.test" and row["users"] == "3"
    assert row["assigned"] == "600,000"  # three users of Org A with the default 200,000 each


def test_edit_fields_caps_and_allowed_models(root, people):
    _, edit, _ = _super(root, people)
    run(edit.open_edit(str(people.org_id)))
    assert edit.is_open and edit.org["name"] == "Org A" and edit.org["email_domain"] == "a.test"
    assert edit.models and all(m["allowed"] == "no" for m in edit.models)
    first = edit.models[0]["id"]
    edit.toggle_model(first, True)
    ret = run(edit.save({"name": "Org A Renamed", "billing_address": "1 Main St", "contact_name": "Pat",
                         "email": "billing@a.test", "phone": "+1 555", "country": "US", "email_domain": "a.test",
                         "monthly_token_cap": "5,000,000", "monthly_training_cap": ""}))
    assert ret is not None and not edit.is_open and edit.error == ""
    org = _org(people.org_id)
    assert org.name == "Org A Renamed" and org.monthly_token_cap == 5_000_000 and org.monthly_training_cap is None
    with Session(get_engine()) as s:
        allowed = s.exec(select(OrgAllowedModel.model_id).where(OrgAllowedModel.org_id == people.org_id)).all()
    assert allowed == [int(first)]


def test_bad_input_changes_nothing(root, people):
    _, edit, _ = _super(root, people)
    before = snapshot(get_engine())
    for form in ({"name": "Org B"},  # taken
                 {"name": "Org A", "monthly_token_cap": "-5"},
                 {"name": "Org A", "monthly_token_cap": "1e9"},
                 {"name": "Org A", "email_domain": "b.test"},  # used by Org B
                 {"name": "Org A", "email": "not-an-email"},
                 {"name": ""}):
        run(edit.open_edit(str(people.org_id)))
        run(edit.save(form))
        assert edit.error and edit.is_open, form
    run(edit.open_edit("99999"))
    assert edit.error == "Organization not found." and not edit.is_open
    run(edit.open_edit({"x": 1}))
    assert not edit.is_open
    assert snapshot(get_engine()) == before


def test_work_in_switches_the_session_org(root, people):
    from services.auth import sessions

    _, edit, token = _super(root, people)
    assert redirect_of(run(edit.work_in(str(people.other_org_id)))) == "/admin/users"
    with Session(get_engine()) as s:
        assert sessions.resolve(s, token).org_id == people.other_org_id
    run(edit.work_in("9" * 30))
    assert edit.error == "Organization not found."


def test_org_admin_cannot_read_or_edit_orgs(root, people):
    from services.core.actor import Actor
    from services.orgs.org_listing import org_detail
    from services.orgs.organizations import update_org

    admin = Actor(people.admin.id, "admin", people.org_id)
    with Session(get_engine()) as s:
        for call in (lambda: org_detail(s, actor=admin, org_id=people.org_id),
                     lambda: update_org(s, actor=admin, org_id=people.org_id, name="Mine")):
            try:
                call()
            except Forbidden:
                continue
            raise AssertionError("an org admin edited an organization")

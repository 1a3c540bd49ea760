"""Fixtures of the service tests beyond tests/conftest.py: the gateway API served over real HTTP."""

from dataclasses import replace

import pytest
from sqlmodel import Session

from admin_panel.api import create_api
from models import utcnow
from services.core.db import make_engine
from services.gateway import api_keys
from tests.services.gateway_helpers import serve, setup


@pytest.fixture
def http(engine, world, session):
    """Two app instances (own engine, own writer) on two loopback ports, and an API key of org A."""
    setup(world, session)
    admin = replace(world.actor(world.admin), mfa_verified_at=utcnow())
    with Session(engine, expire_on_commit=False) as s:
        key = api_keys.create_key(s, actor=admin, name="http")
        s.commit()
    second = make_engine(engine.url.render_as_string(hide_password=False))
    with serve(create_api(engine)) as a, serve(create_api(second)) as b:
        world.urls = (a, b)
        world.headers = {"Authorization": f"Bearer {key.secret}"}
        yield world
    second.dispose()

from sqlmodel import select

from models import User


def test_world_builds(world, session):
    assert session.exec(select(User)).all().__len__() == 7

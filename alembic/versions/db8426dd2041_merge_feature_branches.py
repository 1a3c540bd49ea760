"""merge feature branches

Revision ID: db8426dd2041
Revises: 4199dde941b1, a7c3e1d90b42, a7e3c1d9b2f4, d15a7b0e5c21
Create Date: 2026-11-22 15:44:42.980664
"""
from typing import Sequence, Union



revision: str = 'db8426dd2041'
down_revision: Union[str, None] = ('4199dde941b1', 'a7c3e1d90b42', 'a7e3c1d9b2f4', 'd15a7b0e5c21')
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

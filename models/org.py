"""Organizations (enterprise accounts), their purchases and allowed models."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.base import opt_token_field, token_field, utcnow


class Organization(SQLModel, table=True):
    __tablename__ = "organization"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True, index=True)
    billing_address: str = Field(default="", max_length=500)
    contact_name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=320)
    phone: str = Field(default="", max_length=50)
    country: str = Field(default="", max_length=100)
    email_domain: str | None = Field(default=None, max_length=255, index=True)
    monthly_token_cap: int | None = opt_token_field()
    monthly_training_cap: int | None = opt_token_field()
    created_at: datetime = Field(default_factory=utcnow)


class Purchase(SQLModel, table=True):
    """Tokens bought by an organization. Unexpired purchases form the org's pool."""

    __tablename__ = "purchase"

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    purchased_at: datetime = Field(default_factory=utcnow)
    payer_email: str = Field(default="", max_length=320)
    comment: str = Field(default="", max_length=1000)
    tokens: int = token_field()
    training_tokens: int = token_field()
    expires_at: datetime | None = Field(default=None, index=True)
    created_by: int | None = Field(default=None, foreign_key="app_user.id")


class OrgAllowedModel(SQLModel, table=True):
    """Models an organization may use. No rows for an org means every enabled model is allowed."""

    __tablename__ = "org_allowed_model"

    org_id: int = Field(foreign_key="organization.id", primary_key=True)
    model_id: int = Field(foreign_key="ai_model.id", primary_key=True)

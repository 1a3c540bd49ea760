"""The model catalog: which GenAI models exist and how their tokens are billed."""

from sqlmodel import Field, SQLModel

RATE_SCALE = 1000  # conversion rates are stored in thousandths: 1000 = 1.0 billed token per token


class AIModel(SQLModel, table=True):
    __tablename__ = "ai_model"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True, index=True)
    provider: str = Field(default="", max_length=100)
    prompt_rate_milli: int = Field(default=RATE_SCALE)
    completion_rate_milli: int = Field(default=RATE_SCALE)
    enabled: bool = Field(default=True)

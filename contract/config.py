"""One pydantic base for every config model in the project (DESIGN.md convention 2)."""

from pydantic import BaseModel, ConfigDict


class ConfigModel(BaseModel):
    """Base of all config models: unknown fields are errors, values are validated on assignment.

    Example::

        class LineConfig(ConfigModel):
            type: Literal["line"] = "line"
            name: str = Field("line", description="shown on the wall", min_length=1)
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

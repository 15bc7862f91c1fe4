"""The base every andon.yaml model derives from: strict about unknown keys, immutable,
and documented from attribute docstrings so that the JSON Schema explains each field.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
"""Names of services, environments and processes: DNS labels, because they become
host names, database names and directory names."""

JOB_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
ENV_VAR_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class SpecModel(BaseModel):
    """A section of andon.yaml."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        validate_default=False,
        # YAML gives ints where floats are meant (``instances: 2``); never the reverse.
        strict=False,
    )

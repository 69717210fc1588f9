"""Consumers (共享使用方) declared in include/sharing/consumers.yaml, and their PostgreSQL LOGIN roles.

A consumer ``<code>`` is the LOGIN role ``consumer_<code>``, a member of the group
``sharing_consumer`` and of nothing else, with the schema ``share_<code>`` holding its views
(baselib.sharing.grants). Its password comes from the environment variable ``password_env``
(default ``BASELIB_CONSUMER_<CODE>_PASSWORD``), never from the repository."""
from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from baselib.errors import SharingError
from baselib.identifiers import credit_code
from baselib.settings import INCLUDE_DIR

CONSUMERS_FILE = Path(os.environ.get("BASELIB_CONSUMERS_FILE", INCLUDE_DIR / "sharing" / "consumers.yaml"))
CONSUMER_GROUP = "sharing_consumer"


class Department(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: str = Field(min_length=2, description="使用部门")
    code: str = Field(description="the department's unified social credit code (统一社会信用代码)")

    @field_validator("code")
    @classmethod
    def _credit_code(cls, value: str) -> str:
        if not credit_code.is_valid(value):
            raise ValueError(f"{value!r} is not a valid unified social credit code")
        return value


class Consumer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,40}$", description="lower-case identifier, e.g. tax_collection")
    name: str = Field(min_length=2, description="使用系统名称")
    department: Department
    password_env: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]*$",
                                     description="environment variable holding the password")
    connection_limit: int = Field(default=10, ge=1, le=1000)

    @property
    def role_name(self) -> str:
        return f"consumer_{self.code}"

    @property
    def share_schema(self) -> str:
        return f"share_{self.code}"

    @property
    def password_variable(self) -> str:
        return self.password_env or f"BASELIB_CONSUMER_{self.code.upper()}_PASSWORD"


class ConsumersFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    consumers: list[Consumer]

    @field_validator("consumers")
    @classmethod
    def _unique(cls, value: list[Consumer]) -> list[Consumer]:
        seen: set[str] = set()
        for consumer in value:
            if consumer.code in seen:
                raise ValueError(f"consumer {consumer.code!r} is declared twice")
            seen.add(consumer.code)
        return value


def load(path: Path | None = None) -> list[Consumer]:
    """The declared consumers, in file order: ``path``, else ``BASELIB_CONSUMERS_FILE`` (read at
    call time), else include/sharing/consumers.yaml. Raises SharingError naming the file and the field."""
    path = Path(path or os.environ.get("BASELIB_CONSUMERS_FILE") or CONSUMERS_FILE)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {"consumers": []}
        return ConsumersFile.model_validate(data).consumers
    except (OSError, yaml.YAMLError) as exc:
        raise SharingError(f"{path}: cannot read the consumers file: {exc}") from exc
    except ValidationError as exc:
        raise SharingError(f"{path}: not a valid consumers file: {exc}") from exc

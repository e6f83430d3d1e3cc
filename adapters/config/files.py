"""Settings files: TOML (or YAML with PyYAML) into strict models, with errors that name
the file, each field path and what is wrong.

A config file never holds secrets (credentials come from the environment or a secrets
file it names).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from tradeloom.engine.errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One line per problem: file, dotted field path, what is wrong (with allowed values)."""
    lines = [f"{source}: invalid configuration"]
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown setting; check the spelling against the documented fields"
        elif err["type"] == "missing":
            msg = "required setting is missing"
        lines.append(f"  {path}: {msg} (got {err.get('input')!r})" if err["type"] != "missing" else f"  {path}: {msg}")
    return "\n".join(lines)


def read_config_file(path: Path | str) -> dict[str, Any]:
    """Parse a TOML (or YAML, if PyYAML is installed) file into a dict, with clear errors."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist; pass the path of a .toml file")
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError as exc:
            raise ConfigError(
                f"{p}: YAML configs need PyYAML (pip install pyyaml), or use TOML"
            ) from exc
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: not valid YAML: {exc}") from exc
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a table of settings")
    return data


def validate_config(model: type[ModelT], data: dict[str, Any], source: str) -> ModelT:
    """Validate ``data`` against ``model``; a ConfigError names ``source`` and each field path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_config(model: type[ModelT], path: Path | str) -> ModelT:
    """Read and validate a config file into ``model``."""
    return validate_config(model, read_config_file(path), str(path))


__all__ = ["format_validation_error", "load_config", "read_config_file", "validate_config"]

"""JSON Schema of profile run records (run.schema.json) and its validator."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from edgeattn.errors import EdgeattnError, MissingDependencyError

RUN_SCHEMA_ID = "edgeattn-profile-run/1"
_MAX_MESSAGE = 200


@lru_cache(maxsize=1)
def run_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) every run record follows."""
    return json.loads(resources.files(__package__).joinpath("run.schema.json").read_text())


def validate_run(record: dict[str, Any]) -> None:
    """Raise EdgeattnError naming the first violation when ``record`` does not follow the schema."""
    try:
        import jsonschema
    except ImportError:
        raise MissingDependencyError("jsonschema is needed to validate run records",
                                     "`pip install jsonschema`") from None
    validator = jsonschema.Draft202012Validator(run_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(record))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        message = error.message if len(error.message) <= _MAX_MESSAGE else error.message[:_MAX_MESSAGE] + "…"
        raise EdgeattnError(f"run record does not follow {RUN_SCHEMA_ID} at {where}: {message}",
                            "re-create it with this edgeattn version's `edgeattn profile`")

"""The `spec.yaml` schema of an op folder: shapes the seed models use, attributes, tolerances."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from edgeattn.errors import EdgeattnError


class Tolerance(BaseModel):
    """Absolute/relative tolerance of one comparison against the fp32 reference."""

    model_config = ConfigDict(extra="forbid")
    atol: float
    rtol: float = 0.0


class ShapeCase(BaseModel):
    """One set of input shapes and attributes, named after where it comes from."""

    model_config = ConfigDict(extra="forbid")
    id: str
    shapes: dict[str, list[int]]
    attributes: dict[str, Any] = Field(default_factory=dict)
    used_by: list[str] = Field(default_factory=list)
    benchmark_only: bool = Field(False, description="a deployment-size case the CPU tests leave to the GPU benchmark")


class OpSpec(BaseModel):
    """The content of an op's spec.yaml."""

    model_config = ConfigDict(extra="forbid")
    op: str
    domain: str
    version: int
    inputs: list[str]
    optional_inputs: list[str] = Field(default_factory=list)
    attributes: dict[str, str]
    tolerances: dict[str, Tolerance]
    cases: list[ShapeCase]

    @property
    def test_cases(self) -> list[ShapeCase]:
        """The cases CPU tests run (deployment-size cases are left to the GPU benchmark)."""
        return [case for case in self.cases if not case.benchmark_only]


def load_spec(path: Path) -> OpSpec:
    """Read and validate one spec.yaml."""
    try:
        return OpSpec.model_validate(yaml.safe_load(path.read_text()))
    except (OSError, ValueError) as exc:
        raise EdgeattnError(f"Invalid op spec {path}: {exc}", "Fix the YAML to match OpSpec.") from exc

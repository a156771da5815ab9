"""ONNX Runtime on the CPU execution provider: the runner behind parity, fidelity, calibration and profiling.

`qdq` says what a Q/DQ graph means when it runs:
- "simulated": ORT's QDQ fusions are off, so every DequantizeLinear feeds an fp32 op. This is the exact
  meaning of the graph (what TensorRT computes with integer kernels, up to fp32 rounding) and does not
  depend on which fused x86 kernel an ORT release picks (their s8s8 paths saturate on AVX2).
- "fused": ORT fuses Q/DQ into QLinear* kernels: what an ORT CPU deployment runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgeattn.errors import UsageError
from edgeattn.runners.base import Feeds, Runner, default_threads

QdqMode = Literal["simulated", "fused"]


class OrtRunner(Runner):
    """ONNX Runtime CPU session with explicit threads, optimisation level and Q/DQ semantics."""

    name = "ort-cpu"
    needs = "onnx"

    def __init__(self, model: Any, threads: int | None = None, qdq: QdqMode = "fused", optimize: bool = True,
                 extra_outputs: Sequence[str] = (), spinning: bool = True, inter_op_threads: int = 1,
                 profile_prefix: str | Path | None = None, optimized_model_path: str | Path | None = None) -> None:
        super().__init__()
        if qdq not in ("simulated", "fused"):
            raise UsageError(f"unknown Q/DQ mode {qdq!r}", "Use 'simulated' or 'fused'.")
        self.model = model
        self.threads = threads or default_threads()
        self.qdq = qdq
        self.optimize = optimize
        self.extra_outputs = list(extra_outputs)
        self.spinning = spinning
        self.inter_op_threads = inter_op_threads
        self.profile_prefix = profile_prefix
        self.optimized_model_path = optimized_model_path
        self.session: Any = None
        self.static_batch: int | None = None

    @classmethod
    def can_run(cls) -> tuple[bool, str]:
        try:
            import onnxruntime
        except ImportError:
            return False, "onnxruntime not installed; `pip install onnxruntime`"
        if "CPUExecutionProvider" not in onnxruntime.get_available_providers():
            return False, "this onnxruntime build has no CPUExecutionProvider"
        return True, ""

    @property
    def label(self) -> str:
        """Runtime name for reports, e.g. "onnxruntime 1.32.0 CPUExecutionProvider (Q/DQ simulated)"."""
        import onnxruntime

        return f"onnxruntime {onnxruntime.__version__} CPUExecutionProvider" + (
            " (Q/DQ simulated)" if self.qdq == "simulated" else "")

    def _options(self) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = self.inter_op_threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if self.optimize
                                            else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
        if self.qdq == "simulated":
            options.add_session_config_entry("session.disable_quant_qdq", "1")
        if not self.spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if self.profile_prefix is not None:
            options.enable_profiling = True
            options.profile_file_prefix = str(self.profile_prefix)
        if self.optimized_model_path is not None:
            options.optimized_model_filepath = str(self.optimized_model_path)
        return options

    def _model_bytes(self) -> bytes | str:
        import onnx

        if isinstance(self.model, (str, Path)):
            path = Path(self.model)
            if not path.is_file():
                raise UsageError(f"ONNX model not found: {path}", "Pass a bundle folder or an existing .onnx file.")
            if not self.extra_outputs:
                return str(path)
            proto = onnx.load(path)
        elif isinstance(self.model, bytes):
            if not self.extra_outputs:
                return self.model
            proto = onnx.load_from_string(self.model)
        else:
            proto = self.model
            if not self.extra_outputs:
                return proto.SerializeToString()
        return with_outputs(proto, self.extra_outputs).SerializeToString()

    def _prepare(self) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(self._model_bytes(), self._options(), providers=["CPUExecutionProvider"])
        inputs = self.session.get_inputs()
        self.input_names = [i.name for i in inputs]
        self.output_names = [o.name for o in self.session.get_outputs()]
        batch = inputs[0].shape[0] if inputs and inputs[0].shape else None
        self.static_batch = batch if isinstance(batch, int) else None

    def _infer(self, feeds: Feeds) -> Feeds:
        return dict(zip(self.output_names, self.session.run(self.output_names, feeds)))

    def input_dtype(self, index: int = 0) -> type:
        """numpy dtype of a graph input (float16 graphs take float16)."""
        return np.float16 if "float16" in self.session.get_inputs()[index].type else np.float32

    def split_batch(self, batch: np.ndarray) -> list[np.ndarray]:
        """Split `batch` into the chunks a static-batch graph accepts (one chunk for a dynamic batch)."""
        size = self.static_batch
        if size is None or size == len(batch):
            return [batch]
        if len(batch) % size:
            raise UsageError(f"a batch of {len(batch)} does not split into the graph's static batch {size}",
                             f"Use a batch size that is a multiple of {size}, or export with --dynamic-batch.")
        return [batch[i : i + size] for i in range(0, len(batch), size)]

    def end_profiling(self) -> Path:
        """Stop ORT's profiler and return the path of its trace (JSON, Chrome trace format)."""
        if self.session is None or self.profile_prefix is None:
            raise UsageError("profiling was not enabled for this runner", "Pass profile_prefix=...")
        return Path(self.session.end_profiling())

    def close(self) -> None:
        self.session = None
        super().close()


def with_outputs(model: Any, names: Sequence[str]) -> Any:
    """A copy of `model` that also returns the intermediate tensors `names` (untyped graph outputs)."""
    import onnx
    from onnx import helper

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    existing = {o.name for o in probe.graph.output}
    for name in names:
        if name not in existing:
            probe.graph.output.append(helper.make_empty_tensor_value_info(name))
    return probe

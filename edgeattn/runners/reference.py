"""onnx's ReferenceEvaluator with the edgeattn ops computed by their fp32 references (plugin graphs)."""

from __future__ import annotations

from typing import Any

from edgeattn.runners.base import Feeds, Runner


class ReferenceRunner(Runner):
    """Runs any graph, edgeattn plugin nodes included, in `onnx.reference` (slow; for parity checks)."""

    name = "onnx-reference"
    needs = "onnx"

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model
        self.evaluator: Any = None

    @classmethod
    def can_run(cls) -> tuple[bool, str]:
        try:
            import onnx.reference  # noqa: F401
        except ImportError:
            return False, "onnx not installed; `pip install onnx`"
        return True, ""

    @property
    def label(self) -> str:
        import onnx

        return f"onnx {onnx.__version__} ReferenceEvaluator + edgeattn reference ops"

    def _prepare(self) -> None:
        import onnx
        from onnx.reference import ReferenceEvaluator

        from edgeattn.ops import evaluator_ops

        proto = onnx.load_from_string(self.model) if isinstance(self.model, bytes) else self.model
        self.evaluator = ReferenceEvaluator(_with_reference_qdq(proto), new_ops=evaluator_ops())
        self.input_names = list(self.evaluator.input_names)
        self.output_names = list(self.evaluator.output_names)

    def _infer(self, feeds: Feeds) -> Feeds:
        return dict(zip(self.output_names, self.evaluator.run(None, feeds)))

    def close(self) -> None:
        self.evaluator = None
        super().close()


QDQ_OPSET = 19


def _with_reference_qdq(model):
    """onnx.reference implements QuantizeLinear/DequantizeLinear from opset 19 only; their int8 semantics in
    opsets 13-18 are the same (19 adds float8 types), so a Q/DQ graph runs with its opset import raised to 19."""
    import onnx

    if not any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node):
        return model
    default = next((i for i in model.opset_import if i.domain in ("", "ai.onnx")), None)
    if default is None or default.version >= QDQ_OPSET:
        return model
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    next(i for i in copy.opset_import if i.domain in ("", "ai.onnx")).version = QDQ_OPSET
    return copy

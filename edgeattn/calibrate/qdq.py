"""Explicit INT8: activation ranges from ONNX Runtime and QuantizeLinear/DequantizeLinear emission.

Per-axis activation Q/DQ (`QDQConfig.per_axis_activations`) is an analysis option only: it shows how much
per-channel activation scales would recover, but TensorRT rejects per-axis activations and ORT runs them
unfused (dequantize, fp32 op, quantize), so no deployable graph uses it.

Two styles:
- "tensorrt": symmetric int8 everywhere (zero point 0), per-tensor activations, per-channel int8 weights
  (stored as int8 initializers + DequantizeLinear), Q/DQ on the inputs of weighted ops (Conv,
  ConvTranspose, Gemm, MatMul), attention MatMuls, the skip branch of residual Adds (the branch a weighted
  op writes is fused into that op's epilogue by TensorRT and stays unquantized), and on the q/k/v inputs
  of edgeattn plugin nodes; none inside fp32 islands.
- "ort": ORT x86 QDQ: u8 asymmetric activations, s8 per-channel weights, int32 biases; the same places plus
  the outputs of weighted ops (after a directly following Relu), so that ORT fuses DQ → op → Q into
  QLinearConv / QLinearMatMul / QGemm. Without the output Q, ORT runs dequantize → fp32 op, which is slower
  than fp32 alone. The Relu stays in the graph: a u8 QuantizeLinear with zero point 0 clamps exactly as
  Relu does, and ORT's ReluQuantFusion removes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgeattn.calibrate.frames import Batch, runs, valid_values
from edgeattn.calibrate.islands import PLUGIN_DOMAIN, ensure_node_names
from edgeattn.calibrate.observers import (
    ChannelMaxObserver,
    MaxObserver,
    Method,
    Observer,
    make_observer,
)
from edgeattn.errors import UsageError
from edgeattn.ops.registry import node_op

Style = Literal["tensorrt", "ort"]
STYLES: tuple[Style, ...] = ("tensorrt", "ort")
QDQ_SEMANTICS: dict[Style, str] = {"tensorrt": "simulated", "ort": "fused"}
"""How a style's graph is measured (`edgeattn.runners.ort`): TensorRT runs the integer maths exactly, so a
TensorRT-style graph is measured with Q/DQ simulated; an ORT-style graph is measured on the fused CPU
kernels it will be deployed on."""
WEIGHTED_OPS = frozenset({"Conv", "ConvTranspose", "Gemm", "MatMul"})
BOUNDED_OUTPUT_OPS = frozenset({"Softmax", "Sigmoid"})
"""Producers whose outputs are calibrated with max, never clipped (probabilities and gates)."""


@dataclass(frozen=True)
class QDQConfig:
    """What gets quantized and how."""

    style: Style = "tensorrt"
    method: Method = "entropy"
    percentile: float = 99.99
    residual_adds: bool = True
    fused_add_inputs: bool = True
    """TensorRT style: a residual Add input that a Conv/Gemm/MatMul (or its bias Add) produces gets no Q/DQ —
    TensorRT fuses that Add into the producer's epilogue and adds in higher precision; only the other branch
    is quantized."""
    per_axis_activations: bool = False
    skip_nodes: frozenset[str] = field(default_factory=frozenset)
    """Node names kept in fp32 (fp32 islands, and regions the CPU latency check rejected)."""

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise UsageError(f"unknown Q/DQ style {self.style!r}", f"Use one of: {', '.join(STYLES)}.")


def _initializer_names(model: onnx.ModelProto) -> set[str]:
    names = {init.name for init in model.graph.initializer}
    names.update(n.output[0] for n in model.graph.node if n.op_type == "Constant")
    return names


def quantized_inputs(model: onnx.ModelProto, config: QDQConfig) -> dict[str, list[int]]:
    """Node name -> indices of its activation inputs that get Q/DQ (weights handled separately)."""
    constants = _initializer_names(model)
    fusable = _weighted_outputs(model, constants) if config.style == "tensorrt" and config.fused_add_inputs else set()
    chosen: dict[str, list[int]] = {}
    for node in model.graph.node:
        if node.name in config.skip_nodes:
            continue
        if node.domain == PLUGIN_DOMAIN:
            op = node_op(node)
            count = op.int8.quantized_inputs if op is not None and op.int8 is not None else 0
            indices = list(range(min(count, len(node.input))))
        elif node.op_type in WEIGHTED_OPS:
            indices = [0] if node.op_type != "MatMul" else [0, 1]
        elif node.op_type == "Add" and config.residual_adds:
            indices = [0, 1]
        else:
            continue
        indices = [i for i in indices if i < len(node.input) and node.input[i] and node.input[i] not in constants]
        if node.op_type == "Add" and len(indices) < 2:
            continue
        if node.op_type == "Add":
            indices = _unfused_add_inputs(node, indices, fusable)
        if indices:
            chosen[node.name] = indices
    return chosen


def _weighted_outputs(model: onnx.ModelProto, constants: set[str]) -> set[str]:
    """Tensors a weighted op writes directly, or through its bias Add (a constant second input)."""
    direct = {n.output[0] for n in model.graph.node if n.op_type in WEIGHTED_OPS and n.domain in ("", "ai.onnx")}
    biased = {n.output[0] for n in model.graph.node if n.op_type == "Add" and len(n.input) == 2
              and any(i in direct for i in n.input) and any(i in constants for i in n.input)}
    return direct | biased


def _unfused_add_inputs(node: onnx.NodeProto, indices: list[int], fusable: set[str]) -> list[int]:
    """The residual Add's inputs that keep Q/DQ: all but the first one TensorRT can fuse into its producer."""
    fused = next((i for i in indices if node.input[i] in fusable), None)
    return [i for i in indices if i != fused]


def quantized_outputs(model: onnx.ModelProto, config: QDQConfig) -> dict[str, str]:
    """Node name -> output tensor that gets Q/DQ (ORT style: weighted ops, or the Relu right after one)."""
    if config.style != "ort" or config.per_axis_activations:
        return {}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    graph_outputs = {o.name for o in model.graph.output}
    chosen = {}
    for node in model.graph.node:
        if node.name in config.skip_nodes or node.op_type not in WEIGHTED_OPS or node.domain not in ("", "ai.onnx"):
            continue
        tensor = node.output[0]
        after = consumers.get(tensor, [])
        if len(after) == 1 and after[0].op_type == "Relu" and after[0].name not in config.skip_nodes:
            tensor = after[0].output[0]
        if tensor not in graph_outputs and consumers.get(tensor):
            chosen[node.name] = tensor
    return chosen


def weight_inputs(model: onnx.ModelProto, config: QDQConfig) -> dict[str, tuple[int, int]]:
    """Node name -> (weight input index, channel axis) for weighted ops with initializer weights."""
    initializers = {init.name for init in model.graph.initializer}
    chosen = {}
    for node in model.graph.node:
        if node.name in config.skip_nodes or node.op_type not in WEIGHTED_OPS or len(node.input) < 2:
            continue
        if node.input[1] not in initializers:
            continue
        if node.op_type == "Conv":
            axis = 0
        elif node.op_type == "ConvTranspose":
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            axis = 0 if group > 1 else 1  # weight [Cin, Cout/group, kh, kw]: depthwise output channels lie on axis 0
        elif node.op_type == "Gemm":
            trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
            axis = 0 if trans_b else 1
        else:
            axis = -1
        chosen[node.name] = (1, axis)
    return chosen


def activation_tensors(model: onnx.ModelProto, config: QDQConfig) -> list[str]:
    """Every tensor that needs a calibrated range, in graph order."""
    by_name = {n.name: n for n in model.graph.node}
    names: list[str] = []
    for node_name, indices in quantized_inputs(model, config).items():
        for index in indices:
            name = by_name[node_name].input[index]
            if name not in names:
                names.append(name)
    names += [t for t in quantized_outputs(model, config).values() if t not in names]
    return names


def collect_ranges(
    model: onnx.ModelProto,
    batches: Iterable[Batch],
    tensors: list[str],
    config: QDQConfig,
    threads: int = 2,
) -> dict[str, Observer]:
    """Stream calibration batches (or frames) through ONNX Runtime and observe each tensor in `tensors`;
    elements a frame's padding probe changes are left out."""
    from edgeattn.runners.ort import OrtRunner

    runner = OrtRunner(model, threads, optimize=False, extra_outputs=tensors).prepare()
    producers = {out: node.op_type for node in model.graph.node for out in node.output}
    if config.per_axis_activations:
        observers: dict[str, Observer] = {name: ChannelMaxObserver() for name in tensors}
    else:
        observers = {
            name: MaxObserver() if producers.get(name) in BOUNDED_OUTPUT_OPS
            else make_observer(config.method, config.percentile)
            for name in tensors
        }
    for batch in batches:
        for feeds, probe, _ in runs(runner, batch):
            values = runner.infer(feeds)
            probed = runner.infer(probe) if probe is not None else {}
            for name in tensors:
                observers[name].update(valid_values(values[name], probed.get(name)))
    runner.close()
    return observers


def activation_params(observer: Observer, style: Style) -> tuple[float | np.ndarray, int | np.ndarray, int]:
    """(scale, zero point, ONNX element type) of one activation tensor (arrays for per-axis observers)."""
    if isinstance(observer, ChannelMaxObserver):
        lo, hi = np.minimum(observer.channel_min, 0.0), np.maximum(observer.channel_max, 0.0)
        if style == "tensorrt":
            return np.maximum(np.maximum(-lo, hi), 1e-12).astype(np.float32) / 127.0, np.zeros(len(lo), np.int64), TensorProto.INT8
        scale = (np.maximum(hi - lo, 1e-12) / 255.0).astype(np.float32)
        return scale, np.clip(np.round(-lo / scale), 0, 255).astype(np.int64), TensorProto.UINT8
    if style == "tensorrt":
        return observer.threshold() / 127.0, 0, TensorProto.INT8
    lo, hi = observer.signed_range()
    scale = max(hi - lo, 1e-12) / 255.0
    zero_point = int(np.clip(round(-lo / scale), 0, 255))
    return scale, zero_point, TensorProto.UINT8


def quantize_weight(weight: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-channel int8 weights: (int8 values, fp32 scales along `axis`)."""
    axis = axis % weight.ndim
    reduce = tuple(d for d in range(weight.ndim) if d != axis)
    amax = np.abs(weight).max(axis=reduce)
    scales = np.maximum(amax, 1e-12).astype(np.float32) / 127.0
    shape = [1] * weight.ndim
    shape[axis] = -1
    values = np.clip(np.round(weight / scales.reshape(shape)), -127, 127).astype(np.int8)
    return values, scales


@dataclass
class QDQResult:
    """The quantized model and a record of what was quantized (for calibration.json)."""

    model: onnx.ModelProto
    activations: dict[str, dict]
    weights: list[str]
    nodes: list[str]


def insert_qdq(model: onnx.ModelProto, observers: dict[str, Observer], config: QDQConfig) -> QDQResult:
    """Return a copy of `model` with Q/DQ pairs on calibrated activations and DQ'd int8 weights."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    ensure_node_names(out)
    graph = out.graph
    initializers = {init.name: init for init in graph.initializer}
    act_inputs = quantized_inputs(out, config)
    quantized = set(act_inputs)
    for tensor in quantized_outputs(out, config).values():
        for node in graph.node:
            if node.name in config.skip_nodes:
                continue
            for index, name in enumerate(node.input):
                if name == tensor and index not in act_inputs.get(node.name, []):
                    act_inputs.setdefault(node.name, []).append(index)
    w_inputs = weight_inputs(out, config)
    new_inits: list[TensorProto] = []
    replaced: dict[str, str] = {}
    activations: dict[str, dict] = {}
    weights: list[str] = []
    nodes: list[onnx.NodeProto] = []
    input_scales: dict[str, float] = {}

    def qdq_activation(name: str, before: list[onnx.NodeProto]) -> str:
        if name in replaced:
            return replaced[name]
        if name not in observers:
            raise UsageError(f"no calibrated range for tensor {name!r}", "Calibrate the same graph you quantize.")
        scale, zero_point, elem = activation_params(observers[name], config.style)
        scale_name, zp_name = f"{name}__scale", f"{name}__zero_point"
        new_inits.append(numpy_helper.from_array(np.array(scale, dtype=np.float32), scale_name))
        zp_dtype = np.int8 if elem == TensorProto.INT8 else np.uint8
        new_inits.append(numpy_helper.from_array(np.array(zero_point, dtype=zp_dtype), zp_name))
        q_name, dq_name = f"{name}__q", f"{name}__dq"
        axis = {"axis": 1} if np.ndim(scale) else {}
        before.append(helper.make_node("QuantizeLinear", [name, scale_name, zp_name], [q_name],
                                       name=f"QuantizeLinear__{name}", **axis))
        before.append(helper.make_node("DequantizeLinear", [q_name, scale_name, zp_name], [dq_name],
                                       name=f"DequantizeLinear__{name}", **axis))
        replaced[name] = dq_name
        if not np.ndim(scale):
            input_scales[name] = scale
        obs = observers[name]
        activations[name] = {
            "threshold": obs.threshold(), "min": obs.min, "max": obs.max, "amax": obs.amax,
            "scale": np.asarray(scale).tolist(), "zero_point": np.asarray(zero_point).tolist(),
            "observer": "channel-max" if isinstance(obs, ChannelMaxObserver) else obs.method,
        }
        return dq_name

    for node in graph.node:
        before: list[onnx.NodeProto] = []
        for index in act_inputs.get(node.name, []):
            node.input[index] = qdq_activation(node.input[index], before)
        if node.name in w_inputs:
            index, axis = w_inputs[node.name]
            w_name = node.input[index]
            array = numpy_helper.to_array(initializers[w_name])
            values, scales = quantize_weight(array, axis)
            q_init, s_init = f"{w_name}__int8_{node.name}", f"{w_name}__scale_{node.name}"
            new_inits.append(numpy_helper.from_array(values, q_init))
            new_inits.append(numpy_helper.from_array(scales, s_init))
            zp_init = f"{w_name}__zero_point_{node.name}"
            new_inits.append(numpy_helper.from_array(np.zeros(scales.shape, dtype=np.int8), zp_init))
            dq_out = f"{w_name}__dq_{node.name}"
            before.append(helper.make_node("DequantizeLinear", [q_init, s_init, zp_init], [dq_out],
                                           name=f"DequantizeLinear__{w_name}__{node.name}", axis=axis % array.ndim))
            node.input[index] = dq_out
            weights.append(w_name)
            if config.style == "ort" and node.op_type in ("Conv", "Gemm") and len(node.input) > 2 \
                    and node.input[2] in initializers:
                x_name = next((k for k, v in replaced.items() if v == node.input[0]), None)
                if x_name is not None and x_name in input_scales:
                    node.input[2] = _int32_bias(node, initializers[node.input[2]], input_scales[x_name] * scales, new_inits, before)
        nodes.extend(before)
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    used = {name for node in graph.node for name in node.input}
    kept = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept + new_inits)
    onnx.checker.check_model(out)
    return QDQResult(out, activations, weights, sorted(quantized | set(w_inputs)))


def _int32_bias(node, bias_init: TensorProto, scales: np.ndarray, new_inits, before) -> str:
    bias = numpy_helper.to_array(bias_init)
    scales = np.maximum(scales.astype(np.float32), 1e-12)
    values = np.clip(np.round(bias / scales), -(2**31), 2**31 - 1).astype(np.int32)
    q_name, s_name, zp_name = (f"{bias_init.name}__int32_{node.name}", f"{bias_init.name}__scale_{node.name}",
                               f"{bias_init.name}__zero_point_{node.name}")
    new_inits.append(numpy_helper.from_array(values, q_name))
    new_inits.append(numpy_helper.from_array(scales, s_name))
    new_inits.append(numpy_helper.from_array(np.zeros(scales.shape, dtype=np.int32), zp_name))
    out = f"{bias_init.name}__dq_{node.name}"
    before.append(helper.make_node("DequantizeLinear", [q_name, s_name, zp_name], [out],
                                   name=f"DequantizeLinear__{bias_init.name}__{node.name}", axis=0))
    return out

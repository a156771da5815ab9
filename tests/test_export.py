"""Every registry model exports and matches torch on ONNX Runtime (small resolutions keep this fast)."""

import json

import onnx
import pytest
from memory_groups import by_memory

from edgeattn.backbones import list_models
from edgeattn.backbones.stats import model_ops
from edgeattn.exporters.pipeline import ExportConfig, run_export
from edgeattn.ops import get_op

IMAGE_MODELS = [spec for spec in list_models() if spec.input_kind == "image"]
DEFAULT_RESOLUTION = ["shvit_s4", "efficientvit_b1", "lowformer_b1", "ghostnetv2_100"]


def _export(tmp_path, name, **options):
    return run_export(ExportConfig(model=name, target="jetson", out=tmp_path / name, **{"flavour": "both", **options}),
                      show_progress=False)


@pytest.mark.parametrize("spec", by_memory(IMAGE_MODELS))
def test_export_both_flavours_with_parity(tmp_path, spec):
    bundle = _export(tmp_path, spec.name, resolution=spec.test_resolution)
    assert [p.graph for p in bundle.parity] == ["model.onnx", "model.plugins.onnx"]
    assert all(p.passed and len(p.cases) >= 5 for p in bundle.parity)
    portable = onnx.load(bundle.path / "model.onnx")
    portable_ops = {node.op_type for node in portable.graph.node}
    assert all(node.domain in ("", "ai.onnx") for node in portable.graph.node)
    producers = {out: node.op_type for node in portable.graph.node for out in node.output}
    consumers = {}
    for node in portable.graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    conv_bn = [n.name for n in portable.graph.node if n.op_type == "BatchNormalization"
               and producers.get(n.input[0]) in ("Conv", "ConvTranspose", "Gemm") and consumers[n.input[0]] == 1]
    assert not conv_bn, f"a BatchNorm that is the only consumer of a conv must be folded into it: {conv_bn}"
    assert portable.opset_import[0].version >= 17
    plugins = onnx.load(bundle.path / "model.plugins.onnx")
    plugin_ops = {node.op_type for node in plugins.graph.node if node.domain == "edgeattn"}
    with_plugin = {name for name in model_ops(spec.name) if get_op(name).plugin_kernels is not None}
    assert plugin_ops == with_plugin, "ops with a TensorRT plugin are nodes, the others decomposed"
    assert {entry["op_type"] for entry in bundle.manifest["ops"]} == with_plugin
    assert bundle.manifest["plugin_graph"] == {"plugin": sorted(with_plugin),
                                               "portable": sorted(set(model_ops(spec.name)) - with_plugin)}
    assert all(report["ok"] for report in bundle.manifest["trt_lint"].values())
    _assert_ort_quantize_static_accepts(bundle.path / "model.onnx", tmp_path / "ort_int8.onnx", spec.test_resolution)


def _assert_ort_quantize_static_accepts(path, out, resolution):
    """Other tools can take our graphs: no float initializer feeds two nodes, and ORT's own INT8 quantizer
    (QDQ, per-channel weights: its defaults for CNNs) accepts the portable graph."""
    import logging

    import numpy as np
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    graph = onnx.load(path).graph
    floats = {i.name for i in graph.initializer if i.data_type == onnx.TensorProto.FLOAT}
    reads = [name for node in graph.node for name in node.input if name in floats]
    assert len(reads) == len(set(reads)), "a float initializer feeds several nodes"

    class OneBatch(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(0)
            self.batches = iter([{"image": rng.standard_normal((1, 3, resolution, resolution), dtype=np.float32)}])

        def get_next(self):
            return next(self.batches, None)

    logging.getLogger().setLevel(logging.ERROR)
    quantize_static(str(path), str(out), OneBatch(), quant_format=QuantFormat.QDQ, per_channel=True)
    quantized = onnx.load(out)
    assert any(node.op_type == "DequantizeLinear" for node in quantized.graph.node)


@pytest.mark.slow
@pytest.mark.parametrize("name", DEFAULT_RESOLUTION)
def test_export_at_default_resolution(tmp_path, name):
    bundle = _export(tmp_path, name)
    assert bundle.parity[0].passed
    manifest = json.loads((bundle.path / "manifest.json").read_text())
    assert manifest["input"]["preprocessing"]["resolution"] == bundle.manifest["input"]["shape"][-1]


def test_manifest_records_inputs_weights_and_files(tmp_path):
    bundle = _export(tmp_path, "efficientvit_b0", resolution=96)
    manifest = json.loads((bundle.path / "manifest.json").read_text())
    assert manifest["weights"] == {"kind": "random-init", "seed": 0}
    assert manifest["input"]["shape"] == [1, 3, 96, 96]
    assert manifest["target"]["name"] == "jetson-orin"
    assert {"torch", "timm", "onnx", "onnxruntime"} <= set(manifest["tools"])
    listed = {f["path"] for f in manifest["files"]}
    assert {"model.onnx", "model.plugins.onnx", "parity.json", "trt_lint.json", "build_engine.sh",
            "README.md"} <= listed
    on_disk = {p.relative_to(bundle.path).as_posix() for p in bundle.path.rglob("*") if p.is_file()} - {"manifest.json"}
    assert listed == on_disk


def test_dynamic_batch_runs_any_batch(tmp_path):
    import numpy as np
    import onnxruntime as ort
    import torch

    from edgeattn.backbones import create_model, get_spec

    bundle = _export(tmp_path, "shvit_s1", resolution=96, dynamic_batch=True, flavour="portable")
    session = ort.InferenceSession(str(bundle.path / "model.onnx"), providers=["CPUExecutionProvider"])
    model, _ = create_model(get_spec("shvit_s1"))
    x = torch.randn(3, 3, 96, 96, generator=torch.Generator().manual_seed(42))
    with torch.no_grad():
        ref = model(x).numpy()
    got = session.run(None, {"image": x.numpy()})[0]
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=1e-4 * max(1.0, float(np.abs(ref).max())), rtol=0)
    assert "--maxShapes=image:32x3x96x96" in (bundle.path / "build_engine.sh").read_text()


def test_cpu_target_has_no_engine_script(tmp_path):
    bundle = run_export(ExportConfig(model="efficientvit_b0", target="cpu-x86", out=tmp_path / "cpu", resolution=96),
                        show_progress=False)
    assert not (bundle.path / "build_engine.sh").exists()
    assert "onnxruntime" in (bundle.path / "README.md").read_text()


def test_lint_errors_stop_the_export_unless_allowed():
    from edgeattn.errors import EdgeattnError
    from edgeattn.exporters.stages import require_parsable
    from edgeattn.exporters.trt_lint import lint, unsupported_example_model

    report = lint(unsupported_example_model(), ["10.3", "11"])
    assert not report.ok
    with pytest.raises(EdgeattnError, match="TensorRT cannot parse"):
        require_parsable({"plugins": report}, allow_unsupported=False)
    require_parsable({"plugins": report}, allow_unsupported=True)


def test_portable_only_flavour(tmp_path):
    bundle = _export(tmp_path, "ghostnetv2_100", resolution=96, flavour="portable")
    assert not (bundle.path / "model.plugins.onnx").exists()
    assert bundle.manifest["flavours"] == ["portable"] and bundle.manifest["ops"] == []

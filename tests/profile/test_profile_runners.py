"""Every runner on the tiny model: same interface, outputs compared with torch, refusals with reasons."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from profile_tiny_model import HEIGHT, SEED, WIDTH

from edgeattn.errors import MissingDependencyError, UsageError
from edgeattn.runners.ort import OrtRunner
from edgeattn.runners.registry import backend_availability, runner_class
from edgeattn.runners.tensorrt import TensorRTRunner
from edgeattn.runners.torch_runners import TorchCpuRunner, TorchCudaRunner, TorchCudaTritonRunner
from edgeattn.tolerances import model_fp32_atol

HAS_CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def feeds() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)
    return {"image": rng.standard_normal((3, 3, HEIGHT, WIDTH), dtype=np.float32)}


@pytest.fixture(scope="module")
def reference(tiny_net, feeds) -> np.ndarray:
    with torch.inference_mode():
        return tiny_net(torch.from_numpy(feeds["image"])).numpy()


def _check(outputs: dict[str, np.ndarray], reference: np.ndarray) -> None:
    (value,) = outputs.values()
    np.testing.assert_allclose(value, reference, rtol=0, atol=model_fp32_atol(float(np.abs(reference).max())))


@pytest.mark.parametrize("threads", [1, 2], ids=["1-thread", "2-threads"])
def test_ort_cpu_matches_torch_and_records_timings(tiny_onnx, feeds, reference, threads):
    with OrtRunner(tiny_onnx, threads=threads) as runner:
        assert runner.session.get_session_options().intra_op_num_threads == threads
        assert runner.session.get_session_options().inter_op_num_threads == 1
        for _ in range(3):
            outputs = runner.infer(feeds)
    _check(outputs, reference)
    assert len(runner.timings_ms) == 3 and all(t > 0 for t in runner.timings_ms)


def test_torch_cpu_matches_module_and_restores_threads(tiny_net, feeds, reference):
    before = torch.get_num_threads()
    runner = TorchCpuRunner(tiny_net, ["image"], ["logits"], threads=1)
    runner.prepare()
    assert torch.get_num_threads() == 1
    outputs = runner.infer(feeds)
    runner.close()
    assert torch.get_num_threads() == before
    assert list(outputs) == ["logits"]
    _check(outputs, reference)
    assert len(runner.timings_ms) == 1


def test_infer_before_prepare_is_a_usage_error(tiny_onnx, feeds):
    with pytest.raises(UsageError, match="before prepare"):
        OrtRunner(tiny_onnx).infer(feeds)


def test_unknown_backend_lists_choices():
    with pytest.raises(UsageError, match="ort-cpu"):
        runner_class("onnx-gpu")


def test_every_backend_answers_can_run():
    rows = backend_availability()
    assert [r[0] for r in rows] == ["ort-cpu", "torch-cpu", "torch-cuda", "torch-cuda-triton", "tensorrt"]
    for name, ok, reason in rows:
        assert ok or reason, f"{name} refused without a reason"


@pytest.mark.skipif(HAS_CUDA, reason="checks the refusal on a machine without CUDA")
@pytest.mark.parametrize("cls", [TorchCudaRunner, TorchCudaTritonRunner], ids=["torch-cuda", "torch-cuda-triton"])
def test_cuda_runners_refuse_without_gpu(cls, tiny_net):
    ok, reason = cls.can_run()
    assert not ok and "CUDA" in reason
    with pytest.raises(MissingDependencyError, match="cannot run here"):
        cls(tiny_net, ["image"]).prepare()


def test_tensorrt_refuses_with_install_hint_when_missing(tiny_onnx):
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        ok, reason = TensorRTRunner.can_run()
        assert not ok
        assert reason.startswith("tensorrt Python package not installed; install it on the target (JetPack ships it)")
        with pytest.raises(MissingDependencyError, match="tensorrt Python package not installed"):
            TensorRTRunner({"image": (1, 3, HEIGHT, WIDTH)}, onnx_path=tiny_onnx).prepare()
    else:
        pytest.skip("tensorrt is installed here")


def test_tensorrt_needs_exactly_one_model_source(tiny_onnx):
    with pytest.raises(UsageError, match="exactly one"):
        TensorRTRunner({"image": (1, 3, 7, 7)})
    with pytest.raises(UsageError, match="exactly one"):
        TensorRTRunner({"image": (1, 3, 7, 7)}, onnx_path=tiny_onnx, engine_path=tiny_onnx)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
def test_torch_cuda_matches_cpu(tiny_net, feeds, reference):
    runner = TorchCudaRunner(tiny_net, ["image"], ["logits"])
    with runner, runner.track_memory() as memory:
        outputs = runner.infer(feeds)
    _check(outputs, reference)
    assert memory["kind"] == "cuda_max_allocated" and memory["peak_bytes"] > 0
    tiny_net.to("cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not TensorRTRunner.can_run()[0], reason="needs tensorrt and a CUDA GPU")
def test_tensorrt_builds_from_onnx_and_matches_torch(tiny_onnx, feeds, reference):
    runner = TensorRTRunner({"image": feeds["image"].shape}, onnx_path=tiny_onnx)
    with runner:
        outputs = runner.infer(feeds)
    (value,) = outputs.values()
    np.testing.assert_allclose(value, reference, rtol=0, atol=1e-3 * max(1.0, float(np.abs(reference).max())))

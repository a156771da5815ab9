"""The short README.md inside every bundle: what is here and how to build and run it on the device."""

from __future__ import annotations

from edgeattn.backbones.spec import ModelSpec
from edgeattn.exporters.targets import TargetProfile


def render_bundle_readme(spec: ModelSpec, target: TargetProfile, files: list[str], input_lines: list[str],
                         weights: str, parity_summary: str, voxels: bool = False) -> str:
    """The bundle's README: files, the input contract (from the export's input adapter), parity, device use."""
    lines = [
        f"# {spec.name} for {target.name}",
        "",
        f"{target.description}. Weights: {weights}.",
        "",
        "## Files",
        *(f"- `{name}`" for name in files),
        "",
        *input_lines,
        "",
        "## Numerical check",
        parity_summary,
        "",
    ]
    return "\n".join(lines + _device_section(target, voxels=voxels)) + "\n"


def _embedding_lines(voxels: bool, tensorrt: bool) -> list[str]:
    """How to run the bundle from Python, ROS 2 and (image bundles with TensorRT) C++ on the device."""
    cpp = tensorrt and not voxels
    backend = "tensorrt" if tensorrt else "onnxruntime"
    lines = [
        "## Embed it (Python, ROS 2" + (", C++)" if cpp else ")"),
        "```bash",
        "python -c \"import edgeattn.runtime as r; s = r.load('.'); print(s.description)\"",
        "pip install 'edgeattn[ros2]'   # or source /opt/ros/<distro>/setup.bash",
        f"edgeattn ros2 . --input {'/points' if voxels else '/camera/image_raw'} --backend {backend}",
    ]
    if cpp:
        lines += [
            "# C++ loader, in an edgeattn checkout (JetPack: TensorRT headers in /usr/include/aarch64-linux-gnu):",
            "cmake -S examples/cpp -B build/cpp -DTENSORRT_ROOT=/usr && cmake --build build/cpp -j4",
            "build/cpp/edgeattn_loader path/to/this-bundle frame.ppm   # top-5 and latency (`convert photo.jpg frame.ppm`)",
        ]
    return lines + ["```"]


def _device_section(target: TargetProfile, voxels: bool = False) -> list[str]:
    lines: list[str] = []
    if target.tensorrt:
        versions = ", ".join(f"{line.version} ({line.platform})" for line in target.tensorrt)
        lines += [
            "## Build the TensorRT engine (on the device)",
            "Engines are specific to the GPU and the TensorRT version, so build where you run:",
            "```bash",
            "scp -r this-folder user@device:~/   # then, on the device:",
            "./build_engine.sh            # portable ONNX (standard ops only)",
            "./build_engine.sh plugins    # builds plugins/libedgeattn_plugins.so, then the plugin graph's engine",
            "./build_engine.sh library    # only the plugin library (CMake, a C++17 compiler, TensorRT + CUDA headers)",
            "```",
            "The plugin commands need a bundle exported with `--flavour plugins` or `both`: its `plugins/` folder holds "
            "the library's C++ sources and the kernels' cubins for this target's GPU (sha256 in `manifest.json`).",
            f"The script detects the TensorRT line ({versions}) from `trtexec`, caps the builder workspace at "
            f"{target.workspace_mb} MiB, keeps a timing cache beside the engine, and names the engine after the "
            "TensorRT version and GPU architecture. On TensorRT 10 it enables fp16 by flag; TensorRT 11 is "
            "strongly typed, so the engine keeps the precision written in the ONNX graph (fp32 here).",
            "",
            "## Run",
            "```bash",
            "trtexec --loadEngine=model.trt<version>.<sm>.engine --separateProfileRun --iterations=100 --duration=0",
            "```",
            "In an application, deserialize the engine with the TensorRT runtime (C++ `IRuntime::deserializeCudaEngine`"
            " or Python `tensorrt.Runtime`), bind `image` and `logits`, and enqueue on a CUDA stream.",
            "",
            *_embedding_lines(voxels, tensorrt=True),
        ]
    else:
        lines += [
            "## Run (ONNX Runtime)",
            "```python",
            "import onnxruntime as ort",
            "session = ort.InferenceSession('model.onnx', providers=['CPUExecutionProvider'])",
            "logits = session.run(None, {'image': image})[0]",
            "```",
            "",
            *_embedding_lines(voxels, tensorrt=False),
        ]
    return lines

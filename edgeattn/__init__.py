"""edgeattn: export efficient-attention vision backbones to ONNX and TensorRT edge deployments."""

__version__ = "0.1.0"

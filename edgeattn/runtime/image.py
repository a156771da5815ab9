"""Image bundles: frames -> the manifest's preprocessing -> batches of the graph's size -> logits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeattn.errors import UsageError
from edgeattn.runtime.backends import Engine
from edgeattn.runtime.bundle import BundleInfo
from edgeattn.runtime.frames import as_frame_batch
from edgeattn.runtime.labels import class_names
from edgeattn.runtime.options import RuntimeOptions
from edgeattn.runtime.preprocess import Preprocessing
from edgeattn.runtime.session import Session, softmax


@dataclass(frozen=True)
class Prediction:
    """One of the top-k classes of one frame: index, name (None without class names), softmax score."""

    index: int
    label: str | None
    score: float


class ImageSession(Session):
    """`session(frames)` -> logits [N, classes]; `session.run(frames)` -> every output by name."""

    def __init__(self, bundle: BundleInfo, engine: Engine, options: RuntimeOptions) -> None:
        super().__init__(bundle, engine, options)
        spec = bundle.input
        self.preprocessing = Preprocessing.from_manifest(spec.get("preprocessing", {}))
        shape = spec["shape"]
        if len(shape) != 4 or shape[1] != 3:
            raise UsageError(f"bundle input shape {shape} is not [batch, 3, H, W]", "Re-export the bundle.")
        self.input_name = spec["name"]
        self.chw = (3, int(shape[2]), int(shape[3]))
        size = self.preprocessing.resolution
        if self.chw[1:] != (size, size):
            raise UsageError(f"the manifest's preprocessing resolution {size} does not match the graph input "
                             f"{shape}", "Re-export the bundle.")
        self.static_batch = shape[0] if isinstance(shape[0], int) else None
        self._labels: tuple[list[str] | None, str] | None = None

    def __call__(self, images: Any, color: str | None = None) -> np.ndarray:
        """Logits (the first output) for uint8 HWC frames or float NCHW tensors, one row per image."""
        return self.run(images, color)[self.engine.output_names[0]]

    def run(self, images: Any, color: str | None = None) -> dict[str, np.ndarray]:
        """Every output by name. `color` is the channel order of uint8 frames (default: options.color)."""
        batch = as_frame_batch(images, self.chw)
        return self._timed(len(batch), lambda: self._tensor(batch, color), self._infer)

    def preprocess(self, frames: list[np.ndarray], color: str | None = None) -> np.ndarray:
        """uint8 HWC frames -> float32 [N, 3, H, W] exactly as the manifest says."""
        order = color or self.options.color
        if order not in ("RGB", "BGR"):
            raise UsageError(f"color {order!r} is not RGB or BGR", "Pass color='RGB' or color='BGR'.")
        flip = order != self.preprocessing.color
        return np.stack([self.preprocessing(f[..., ::-1] if flip else f) for f in frames])

    def _tensor(self, batch: Any, color: str | None) -> np.ndarray:
        return batch.tensor if batch.tensor is not None else self.preprocess(batch.frames, color)

    def _infer(self, tensor: np.ndarray) -> dict[str, np.ndarray]:
        step = self.static_batch or self.engine.max_batch or len(tensor)
        chunks: dict[str, list[np.ndarray]] = {}
        for start in range(0, len(tensor), step):
            part = tensor[start:start + step]
            count = len(part)
            if self.static_batch and count < self.static_batch:
                part = np.concatenate([part, np.zeros((self.static_batch - count, *self.chw), np.float32)])
            outputs = self.engine.run({self.input_name: part})
            for name, value in outputs.items():
                chunks.setdefault(name, []).append(value[:count])
        return {name: np.concatenate(values) for name, values in chunks.items()}

    def warmup_input(self) -> np.ndarray:
        size = self.preprocessing.resolution
        return np.full((size, size, 3), 128, dtype=np.uint8)

    @property
    def labels(self) -> list[str] | None:
        """Class names (bundle labels.txt, or ImageNet-1k's for 1000-class heads), None when unknown."""
        return self._class_names()[0]

    @property
    def labels_source(self) -> str:
        return self._class_names()[1]

    def _class_names(self) -> tuple[list[str] | None, str]:
        if self._labels is None:
            classes = self._classes()
            self._labels = class_names(self.bundle.path, classes) if classes else (None, "output is not [N, classes]")
        return self._labels

    def _classes(self) -> int | None:
        shape = self.engine.output_shapes[self.engine.output_names[0]]
        return shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None

    def topk(self, logits: np.ndarray, k: int = 5) -> list[list[Prediction]]:
        """The k best classes of every row of `logits`, by softmax score (ties: lower index first)."""
        if logits.ndim != 2:
            raise UsageError(f"logits have shape {tuple(logits.shape)}; top-k needs [N, classes]",
                             "This bundle's output is not a classifier's.")
        k = max(1, min(k, logits.shape[1]))
        names = self.labels
        scores = softmax(logits)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return [[Prediction(int(i), names[i] if names else None, float(row[i])) for i in top]
                for row, top in zip(scores, order)]

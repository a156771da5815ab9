"""What an image session accepts, checked up front with one clear error per mistake.

- uint8 frames HWC with 3 channels (RGB or BGR, any size): one array, a list of arrays (sizes may
  differ), a [N, H, W, 3] array, or PIL images; they are preprocessed as the manifest says;
- float NCHW tensors already preprocessed (numpy or torch): [N, 3, H, W] or one [3, H, W].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeattn.errors import UsageError

FRAME_HINT = ("Pass uint8 HWC frames with 3 channels (RGB or BGR; any size), a list of them, or float32 "
              "NCHW tensors preprocessed as the bundle's manifest says.")


@dataclass(frozen=True)
class FrameBatch:
    """Either raw uint8 frames (to preprocess) or one preprocessed float array [N, 3, H, W]."""

    frames: list[np.ndarray] | None = None
    tensor: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frames) if self.frames is not None else int(self.tensor.shape[0])


def as_frame_batch(images: Any, input_shape: tuple[int, int, int]) -> FrameBatch:
    """Classify and check `images`; `input_shape` is the graph's (3, H, W)."""
    if _is_torch(images):
        images = images.detach().cpu().numpy()
    if isinstance(images, np.ndarray):
        if images.dtype == np.uint8:
            if images.ndim == 4:
                return FrameBatch(frames=[_checked_frame(f, i) for i, f in enumerate(images)])
            return FrameBatch(frames=[_checked_frame(images, 0)])
        if np.issubdtype(images.dtype, np.floating):
            return FrameBatch(tensor=_checked_tensor(images, input_shape))
        raise UsageError(f"images have dtype {images.dtype}; expected uint8 frames or float NCHW tensors",
                         FRAME_HINT)
    if _is_pil(images):
        return FrameBatch(frames=[_pil_frame(images, 0)])
    if isinstance(images, Sequence) and not isinstance(images, (str, bytes)):
        if len(images) == 0:
            raise UsageError("no images to run (an empty list)", FRAME_HINT)
        frames = []
        for i, item in enumerate(images):
            if _is_pil(item):
                frames.append(_pil_frame(item, i))
            elif isinstance(item, np.ndarray) and item.dtype == np.uint8:
                frames.append(_checked_frame(item, i))
            else:
                raise UsageError(f"image {i} is a {_describe(item)}; a list must hold uint8 HWC frames",
                                 FRAME_HINT)
        return FrameBatch(frames=frames)
    raise UsageError(f"images of type {type(images).__name__} are not supported", FRAME_HINT)


def _checked_frame(frame: np.ndarray, index: int) -> np.ndarray:
    if frame.ndim != 3:
        raise UsageError(f"frame {index} has shape {tuple(frame.shape)}; expected H x W x 3 (HWC)",
                         "Grey images: stack the channel three times, e.g. np.repeat(gray[..., None], 3, -1).")
    if frame.shape[2] != 3:
        raise UsageError(f"frame {index} has {frame.shape[2]} channels (shape {tuple(frame.shape)}); expected 3",
                         "Drop the alpha channel (frame[..., :3]) or convert grey frames to 3 channels; "
                         "CHW uint8 frames must be transposed to HWC.")
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise UsageError(f"frame {index} is empty (shape {tuple(frame.shape)})", FRAME_HINT)
    return frame


def _checked_tensor(tensor: np.ndarray, input_shape: tuple[int, int, int]) -> np.ndarray:
    given = tuple(tensor.shape)
    if tensor.ndim == 3:
        tensor = tensor[None]
    expected = "x".join(str(d) for d in input_shape)
    if tensor.ndim != 4 or tuple(tensor.shape[1:]) != tuple(input_shape):
        raise UsageError(f"float input has shape {given}; the graph takes N x {expected} (NCHW)",
                         "Float inputs are used as they are (already preprocessed); pass uint8 HWC frames to "
                         "have the session resize, crop and normalise them.")
    if tensor.shape[0] == 0:
        raise UsageError("no images to run (batch of 0)", FRAME_HINT)
    if not np.isfinite(tensor).all():
        raise UsageError("float input contains NaN or infinity", "Check the preprocessing that produced it.")
    return np.ascontiguousarray(tensor, dtype=np.float32)


def _pil_frame(image: Any, index: int) -> np.ndarray:
    if image.mode not in ("RGB", "L", "RGBA"):
        raise UsageError(f"PIL image {index} has mode {image.mode}", "Convert it first: image.convert('RGB').")
    return np.asarray(image.convert("RGB"))


def _is_torch(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def _is_pil(value: Any) -> bool:
    return type(value).__module__.startswith("PIL.") and hasattr(value, "convert")


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"{value.dtype} array of shape {tuple(value.shape)}"
    return type(value).__name__

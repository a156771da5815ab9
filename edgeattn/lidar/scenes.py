"""Synthetic LiDAR scenes: a spinning multi-beam sensor over ground, cars, pedestrians and clutter.

Points come from ray casting a 64-beam sensor (1.8 m high, elevations -18..+2 deg) against a ground
plane, axis-aligned boxes (cars 4.5x1.9x1.6 m, pedestrians 0.6x0.6x1.75 m) and clutter columns
(poles, bushes), so density falls off with range as on a real sensor. Seeded: the same seed gives the
same [P, 4] float32 (x, y, z, intensity) tensor, byte for byte.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

SENSOR_HEIGHT = 1.8
_CAR = (4.5, 1.9, 1.6, 0.6)
_PEDESTRIAN = (0.6, 0.6, 1.75, 0.3)


def synthetic_scene(
    seed: int,
    *,
    beams: int = 64,
    azimuth_steps: int = 2048,
    max_range: float = 75.0,
    cars: int = 20,
    pedestrians: int = 15,
    clutter: int = 40,
) -> Tensor:
    """One scene as [P, 4] float32 (x, y, z, intensity); about beams * azimuth_steps * 0.6 points."""
    rng = np.random.default_rng(seed)
    boxes = _boxes(rng, cars, pedestrians, clutter, max_range)
    elevation = np.deg2rad(np.linspace(-18.0, 2.0, beams))
    azimuth = np.linspace(-np.pi, np.pi, azimuth_steps, endpoint=False)
    elev, azim = np.meshgrid(elevation, azimuth, indexing="ij")
    direction = np.stack([np.cos(elev) * np.cos(azim), np.cos(elev) * np.sin(azim), np.sin(elev)], -1).reshape(-1, 3)
    direction += rng.normal(0.0, 1e-3, direction.shape)
    origin = np.array([0.0, 0.0, SENSOR_HEIGHT])
    with np.errstate(divide="ignore", invalid="ignore"):
        ground_t = np.where(direction[:, 2] < 0, -SENSOR_HEIGHT / direction[:, 2], np.inf)
    hit_t, reflectivity = ground_t, np.full(len(direction), 0.15)
    box_hits = _ray_box_all(origin, direction, boxes[:, :6])
    best_box = np.argmin(box_hits, axis=1)
    box_t = box_hits[np.arange(len(direction)), best_box]
    closer = box_t < hit_t
    hit_t = np.where(closer, box_t, hit_t)
    reflectivity = np.where(closer, boxes[best_box, 6], reflectivity)
    keep = np.isfinite(hit_t) & (hit_t < max_range) & (rng.random(len(hit_t)) > 0.1)
    t = hit_t[keep] + rng.normal(0.0, 0.02, keep.sum())
    xyz = origin + direction[keep] * t[:, None]
    intensity = np.clip(reflectivity[keep] * (1.0 - t / (2 * max_range)) + rng.normal(0, 0.02, keep.sum()), 0, 1)
    points = np.concatenate([xyz, intensity[:, None]], 1).astype(np.float32)
    return torch.from_numpy(points)


def _boxes(rng: np.random.Generator, cars: int, pedestrians: int, clutter: int, max_range: float) -> np.ndarray:
    """Rows (x0, y0, z0, x1, y1, z1, reflectivity), placed at least 3 m from the sensor."""
    rows = []
    kinds = [_CAR] * cars + [_PEDESTRIAN] * pedestrians
    for _ in range(clutter):
        side = rng.uniform(0.2, 2.0)
        kinds.append((side, side, rng.uniform(0.5, 6.0), rng.uniform(0.1, 0.5)))
    for length, width, height, reflectivity in kinds:
        radius = rng.uniform(3.0 + max(length, width), max_range * 0.9)
        angle = rng.uniform(-np.pi, np.pi)
        cx, cy = radius * np.cos(angle), radius * np.sin(angle)
        if rng.random() < 0.5:
            length, width = width, length
        rows.append((cx - length / 2, cy - width / 2, 0.0, cx + length / 2, cy + width / 2, height, reflectivity))
    return np.array(rows, dtype=np.float64).reshape(-1, 7)


def _ray_box_all(origin: np.ndarray, direction: np.ndarray, boxes: np.ndarray, chunk: int = 16384) -> np.ndarray:
    """Entry distance of every ray into every box [R, B] (inf when missed): the slab method.

    Rays are processed in chunks to bound memory (R x B x 3 float32 per chunk).
    """
    if len(boxes) == 0:
        return np.full((len(direction), 1), np.inf)
    lo = (boxes[None, :, :3] - origin).astype(np.float32)
    hi = (boxes[None, :, 3:] - origin).astype(np.float32)
    out = np.empty((len(direction), len(boxes)), dtype=np.float64)
    for start in range(0, len(direction), chunk):
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = (1.0 / direction[start:start + chunk]).astype(np.float32)[:, None, :]
            t0, t1 = lo * inv, hi * inv
            near = np.minimum(t0, t1).max(axis=2)
            far = np.maximum(t0, t1).min(axis=2)
        out[start:start + chunk] = np.where((far >= near) & (near > 0), near, np.inf)
    return out

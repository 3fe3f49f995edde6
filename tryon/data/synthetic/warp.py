"""Thin-plate-spline maps from the body onto garment space, evaluated densely over an image box."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tryon.data.synthetic.raster import Box

GRID_STEP = 4  # pixels between exact TPS evaluations; the map is bilinear in between (it is smooth)


@dataclass(frozen=True)
class ThinPlateSpline:
    """A 2-D thin-plate spline that sends each control point exactly to its target."""

    controls: np.ndarray  # K x 2, normalised
    weights: np.ndarray  # K x 2 bending weights
    affine: np.ndarray  # 3 x 2
    offset: np.ndarray  # normalisation of the input coordinates
    scale: float

    @classmethod
    def fit(cls, source: np.ndarray, target: np.ndarray) -> ThinPlateSpline:
        """The spline with `source` points (K x 2) mapped onto `target` points (K x 2)."""
        offset = source.mean(axis=0)
        scale = float(np.abs(source - offset).max()) or 1.0
        controls = (source - offset) / scale
        count = len(controls)
        system = np.zeros((count + 3, count + 3))
        system[:count, :count] = _kernel(controls, controls)
        system[:count, count] = 1.0
        system[:count, count + 1 :] = controls
        system[count, :count] = 1.0
        system[count + 1 :, :count] = controls.T
        rhs = np.zeros((count + 3, 2))
        rhs[:count] = target
        solution = np.linalg.solve(system, rhs)
        return cls(
            controls=controls, weights=solution[:count], affine=solution[count:], offset=offset, scale=scale
        )

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """Map N x 2 points."""
        normalised = (points - self.offset) / self.scale
        # einsum instead of a BLAS product: the result must not depend on how many threads BLAS uses,
        # or the dataset would change with the machine's load.
        bending = np.einsum("nk,kc->nc", _kernel(normalised, self.controls), self.weights)
        return bending + self.affine[0] + np.einsum("nk,kc->nc", normalised, self.affine[1:])


def _kernel(points: np.ndarray, controls: np.ndarray) -> np.ndarray:
    """The TPS radial basis r^2 log r^2 between every point and every control point."""
    squared = ((points[:, None, :] - controls[None, :, :]) ** 2).sum(axis=-1)
    return np.where(squared > 0, squared * np.log(np.maximum(squared, 1e-12)), 0.0)


def dense_map(spline: ThinPlateSpline, box: Box, *, step: int = GRID_STEP) -> tuple[np.ndarray, np.ndarray]:
    """The spline's x and y maps over every pixel of `box` (float32, for cv2.remap).

    The spline is evaluated exactly on a grid every `step` pixels and bilinearly interpolated in
    between, which is indistinguishable for a smooth warp and a few times faster.
    """
    height, width = box.y1 - box.y0, box.x1 - box.x0
    rows, cols = max(2, -(-(height - 1) // step) + 1), max(2, -(-(width - 1) // step) + 1)
    grid_x, grid_y = np.meshgrid(box.x0 + step * np.arange(cols), box.y0 + step * np.arange(rows))
    nodes = spline(np.stack([grid_x.ravel(), grid_y.ravel()], axis=1).astype(np.float64))
    nodes = nodes.reshape(rows, cols, 2).astype(np.float32)
    row, row_frac = _split(height, step, rows)
    col, col_frac = _split(width, step, cols)
    right = col_frac[None, :, None]
    top = nodes[row][:, col] * (1 - right) + nodes[row][:, col + 1] * right
    bottom = nodes[row + 1][:, col] * (1 - right) + nodes[row + 1][:, col + 1] * right
    down = row_frac[:, None, None]
    dense = top * (1 - down) + bottom * down
    return np.ascontiguousarray(dense[..., 0]), np.ascontiguousarray(dense[..., 1])


def _split(size: int, step: int, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Grid cell index and fraction for each of `size` pixels; the last cell is never overrun."""
    position = np.arange(size, dtype=np.float32) / step
    cell = np.minimum(position.astype(int), nodes - 2)
    return cell, (position - cell).astype(np.float32)

"""Thin-plate-spline (TPS) sampling grids and ACGPN's second-order difference constraint.

Coordinates follow `torch.nn.functional.grid_sample` with `align_corners=False`: (x, y) in
[-1, 1], x to the right, y down, -1 and 1 on the outer edges of the border pixels. A K x K control
grid is stored row by row (y slowest, x fastest) as a (K * K, 2) tensor.

The warp maps each output pixel to the place in the garment image it samples from: the regular
grid point `regular_grid(k)[n]` samples the garment at `control_points[n]`, and the TPS
interpolates smoothly in between. Zero offsets give the identity.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn

AFFINE_TERMS = 3  # the TPS's affine part: constant, x and y


def regular_grid(k: int, *, dtype: torch.dtype = torch.float32, device: torch.device | None = None) -> Tensor:
    """The K x K regular control grid spanning [-1, 1]^2 as (K * K, 2) (x, y) points, row by row."""
    steps = torch.linspace(-1.0, 1.0, k, dtype=dtype, device=device)
    y, x = torch.meshgrid(steps, steps, indexing="ij")
    return torch.stack([x, y], dim=-1).reshape(k * k, 2)


def pixel_centres(height: int, width: int, *, device: torch.device | None = None) -> Tensor:
    """Normalised (x, y) of every pixel centre as (H * W, 2), row by row, as grid_sample reads them."""
    ys = (torch.arange(height, dtype=torch.float32, device=device) * 2 + 1) / height - 1
    xs = (torch.arange(width, dtype=torch.float32, device=device) * 2 + 1) / width - 1
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([x, y], dim=-1).reshape(height * width, 2)


def radial_basis(points: Tensor, centres: Tensor) -> Tensor:
    """The TPS kernel U(r) = r^2 log r^2 between (P, 2) points and (N, 2) centres, as (P, N)."""
    squared = torch.cdist(points, centres).square()
    # r^2 log r^2 tends to 0 as r -> 0; the clamp makes the centre itself exactly 0 instead of NaN.
    return squared * torch.log(squared.clamp_min(torch.finfo(squared.dtype).tiny))


def tps_basis(points: Tensor, centres: Tensor) -> Tensor:
    """Rows [U(|p - c_1|) .. U(|p - c_N|), 1, x, y] for each point p: (P, N + 3)."""
    ones = torch.ones_like(points[:, :1])
    return torch.cat([radial_basis(points, centres), ones, points], dim=1)


def tps_system(centres: Tensor) -> Tensor:
    """The (N + 3) x (N + 3) TPS system [[K, P], [P^T, 0]] for the control centres (N, 2).

    Solving it against the centres' target positions (padded with three zero rows) gives the
    radial weights and the affine part of the interpolating spline.
    """
    affine = tps_basis(centres, centres)[:, -AFFINE_TERMS:]
    top = torch.cat([radial_basis(centres, centres), affine], dim=1)
    bottom = torch.cat([affine.T, affine.new_zeros(AFFINE_TERMS, AFFINE_TERMS)], dim=1)
    return torch.cat([top, bottom], dim=0)


def full_precision(device: torch.device) -> contextlib.AbstractContextManager:
    """A context with autocast off on `device` (a no-op where autocast does not exist, e.g. meta)."""
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()


def tps_sampling_grid(
    control_points: Tensor, height: int, width: int, *, system: Tensor | None = None
) -> Tensor:
    """Dense (B, H, W, 2) grid_sample grid of the TPS that takes the regular grid to `control_points`.

    `control_points` is (B, K * K, 2). `system` is `tps_system(regular_grid(k))`, passed in by
    callers that keep it as a buffer. The spline is solved for the offsets from the regular grid
    only and added to the identity grid: a TPS reproduces affine maps exactly, so this is the same
    spline, zero offsets give the identity bit for bit, and float32 keeps sub-pixel precision.
    Runs in float32 with autocast off, because a bf16 grid would be off by pixels at 1024x768.
    """
    batch, count, _ = control_points.shape
    k = round(count**0.5)
    device = control_points.device
    with full_precision(device):
        centres = regular_grid(k, device=device)
        if system is None:
            system = tps_system(centres)
        offsets = control_points.float() - centres
        rhs = torch.cat([offsets, offsets.new_zeros(batch, AFFINE_TERMS, 2)], dim=1)
        # solve_ex without error checks: a fixed, well-posed system, and no host sync on the GPU.
        coefficients = torch.linalg.solve_ex(system.float(), rhs, check_errors=False).result
        identity = pixel_centres(height, width, device=device)
        grid = identity + tps_basis(identity, centres) @ coefficients
    return grid.reshape(batch, height, width, 2)


class TPSGridGenerator(nn.Module):
    """Holds the K x K TPS system as a buffer and turns control points into sampling grids."""

    def __init__(self, grid_size: int) -> None:
        super().__init__()
        self.grid_size = grid_size
        # Not persistent: it is a function of grid_size, so checkpoints need not carry it.
        self.register_buffer("system", tps_system(regular_grid(grid_size)), persistent=False)

    def forward(self, control_points: Tensor, height: int, width: int) -> Tensor:
        """(B, K * K, 2) control points to a (B, H, W, 2) sampling grid."""
        return tps_sampling_grid(control_points, height, width, system=self.system)


def second_order_constraint(control_points: Tensor) -> Tensor:
    """ACGPN's second-order difference constraint on the control grid, one value per sample: (B,).

    ACGPN (eq. 2-3 and `BoundedGridLocNet` in the public code) keeps each interior control point
    collinear with, and equally spaced from, its horizontal and vertical neighbours, by penalising
    the difference of the squared distances to the two neighbours (plus slope terms in the
    paper), with a hinge at 0.08. We penalise the squared norm of the discrete second differences
    p(i-1, j) - 2 p(i, j) + p(i+1, j) and p(i, j-1) - 2 p(i, j) + p(i, j+1) instead, summed over the
    interior points: it encodes the same two conditions (collinear and equally spaced), is exactly
    zero for every affine transform of the regular grid (so it never fights a legitimate shift,
    scale or shear), grows quadratically with bending, and is smooth, without a hinge or the
    slopes' division by zero.
    """
    batch, count, _ = control_points.shape
    k = round(count**0.5)
    grid = control_points.reshape(batch, k, k, 2)
    along_rows = grid[:, :, :-2] - 2 * grid[:, :, 1:-1] + grid[:, :, 2:]
    along_columns = grid[:, :-2] - 2 * grid[:, 1:-1] + grid[:, 2:]
    return along_rows.square().sum(dim=(1, 2, 3)) + along_columns.square().sum(dim=(1, 2, 3))

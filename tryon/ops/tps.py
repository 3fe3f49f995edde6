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
import functools

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


def tps_offset_map(k: int, height: int, width: int, *, device: torch.device | None = None) -> Tensor:
    """The (H * W, K * K) matrix taking control-point offsets from the regular K x K grid to
    displacements of every pixel centre: grid = pixel_centres + map @ offsets.

    The spline's coefficients are the TPS system's inverse applied to the offsets padded with three
    zero rows, so only the inverse's first K * K columns act; the map is that block under the pixel
    centres' basis. Built in float64 and returned in float32: the inverse is exact to far below a
    pixel at 1024x768.
    """
    centres = regular_grid(k, dtype=torch.float64, device=device)
    inverse = torch.linalg.inv(tps_system(centres))[:, : k * k]
    identity = pixel_centres(height, width, device=device).double()
    return (tps_basis(identity, centres) @ inverse).float()


@functools.lru_cache(maxsize=4)
def dense_tps_map(k: int, height: int, width: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """The pixel centres (2, H * W) and `tps_offset_map` transposed (K * K, H * W) for one grid, size
    and device, built once: every warp at one resolution shares them (building the basis costs far
    more than the product). Transposed so that the grid's product is wide (a product two columns
    wide is several times slower on the CPU).

    Built outside inference mode and autograd, with autocast off, so that training (which saves the
    map for backward) and inference share the same float32 tensors. At 1024x768 with K = 9 the map
    holds 255 MB.
    """
    with torch.inference_mode(False), torch.no_grad(), full_precision(device):
        identity = pixel_centres(height, width, device=device)
        offset_map = tps_offset_map(k, height, width, device=device)
        return identity.T.contiguous(), offset_map.T.contiguous()


def tps_sampling_grid(control_points: Tensor, height: int, width: int) -> Tensor:
    """Dense (B, H, W, 2) grid_sample grid of the TPS that takes the regular grid to `control_points`.

    `control_points` is (B, K * K, 2). The spline is linear in the control points' offsets from the
    regular grid (`tps_offset_map`): the grid is the identity plus the map times the offsets, so
    zero offsets give the identity bit for bit, and a TPS reproduces affine maps exactly. Runs in
    float32 with autocast off, because a bf16 grid would be off by pixels at 1024x768.
    """
    batch, count, _ = control_points.shape
    k = round(count**0.5)
    device = control_points.device
    with full_precision(device):
        identity_t, offset_map_t = dense_tps_map(k, height, width, device)
        offsets = control_points.float() - regular_grid(k, device=device)
        grid_t = torch.baddbmm(
            identity_t.expand(batch, -1, -1), offsets.transpose(1, 2), offset_map_t.expand(batch, -1, -1)
        )  # (B, 2, H * W)
    return grid_t.transpose(1, 2).reshape(batch, height, width, 2)


class TPSGridGenerator(nn.Module):
    """Turns a K x K grid's control points into sampling grids (`tps_sampling_grid`)."""

    def __init__(self, grid_size: int) -> None:
        super().__init__()
        self.grid_size = grid_size

    def forward(self, control_points: Tensor, height: int, width: int) -> Tensor:
        """(B, K * K, 2) control points to a (B, H, W, 2) sampling grid."""
        return tps_sampling_grid(control_points, height, width)


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

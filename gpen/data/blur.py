"""Gaussian blur kernels of the GFP-GAN degradation model (paper §4.1, DESIGN §4) and a fast blur.

The official pipeline builds a 41x41 (an)isotropic Gaussian kernel and convolves it densely with
`cv2.filter2D`, about half of the per-image degradation time at 512 px. An isotropic or axis-aligned
Gaussian is exactly separable; a rotated anisotropic one is written as a short sum of separable
terms (truncated SVD of the kernel matrix, stopped once the L1 norm of the rest is below
`L1_TOLERANCE`) and applied as pairs of 1-D passes. The 1-D factors are cropped to their support,
which makes small-sigma kernels cheap. Kernels that would need many terms (thin, rotated) go through
one FFT of the image instead, which is exact and a little cheaper than cv2's dense DFT filter."""

from __future__ import annotations

import math

import cv2
import numpy as np

#: Largest L1 norm of (dense kernel - separable approximation). For images in [0, 1] this bounds
#: the per-pixel error of the fast blur, here a quarter of one 8-bit level (LQ is rounded to 8 bits).
L1_TOLERANCE = 1e-3
#: Crop 1-D factors where every tap is below this fraction of the largest tap.
_SUPPORT_TOLERANCE = 1e-5
#: Above this many 1-D taps in total, one FFT of the whole image is cheaper (measured: a 41+41-tap
#: separable pass ~5 ms, the FFT path ~11 ms CPU time at 512 px).
_MAX_SEPARABLE_TAPS = 150


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """Normalised (size, size) bivariate Gaussian, axes sigma_x/sigma_y rotated by theta (radians).

    Same convention as the official BasicSR kernel: coordinates -(size//2)..size//2, covariance
    R diag(sx^2, sy^2) R^T, kernel summing to 1.
    """
    half = size // 2
    axis = np.arange(-half, half + 1, dtype=np.float64)
    xx, yy = np.meshgrid(axis, axis)  # (size, size)
    cos, sin = math.cos(theta), math.sin(theta)
    rotation = np.array([[cos, -sin], [sin, cos]])
    covariance = rotation @ np.diag([sigma_x ** 2, sigma_y ** 2]) @ rotation.T
    inverse = np.linalg.inv(covariance)
    grid = np.stack([xx, yy], axis=-1)  # (size, size, 2)
    exponent = np.einsum("hwi,ij,hwj->hw", grid, inverse, grid)
    kernel = np.exp(-0.5 * exponent)
    return (kernel / kernel.sum()).astype(np.float32)


def _crop_support(vector: np.ndarray) -> np.ndarray:
    """Crop a centred odd-length 1-D kernel symmetrically to where its taps matter."""
    magnitude = np.abs(vector)
    keep = np.nonzero(magnitude > _SUPPORT_TOLERANCE * magnitude.max())[0]
    centre = len(vector) // 2
    reach = max(centre - keep[0], keep[-1] - centre)
    vector = vector[centre - reach: centre + reach + 1]
    # Make the factor exactly even or odd: cv2 has much faster code paths for (anti)symmetric kernels.
    even, odd = (vector + vector[::-1]) / 2, (vector - vector[::-1]) / 2
    return even if np.abs(even).sum() >= np.abs(odd).sum() else odd


def _top_singular_pair(matrix: np.ndarray, iterations: int = 200) -> tuple[np.ndarray, float, np.ndarray]:
    """Largest singular value and vectors by power iteration.

    Not `np.linalg.svd`: LAPACK there runs multi-threaded OpenBLAS even for a 41x41 matrix, and on a
    loaded machine (data-loader workers on every core) each call then waits ~50 ms for a second core.
    The matrix-vector products here stay single-threaded. Accuracy is not trusted blindly: callers
    check the L1 error of the approximation against the kernel itself.
    """
    v = matrix[np.argmax(np.abs(matrix).sum(axis=1))]
    v = v / np.linalg.norm(v)
    sigma = 0.0
    for _ in range(iterations):
        u = matrix @ v
        u /= np.linalg.norm(u)
        v = matrix.T @ u
        previous, sigma = sigma, float(np.linalg.norm(v))
        v /= sigma
        if abs(sigma - previous) <= 1e-12 * sigma:
            break
    return u, sigma, v


def separable_terms(kernel: np.ndarray,
                    max_taps: int = _MAX_SEPARABLE_TAPS) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Write a 2-D kernel as a short list of (column, row) 1-D factor pairs (truncated SVD).

    Terms are added until the L1 norm of what is left out falls below `L1_TOLERANCE`; returns None
    when that needs more than `max_taps` 1-D taps in total (a dense filter is then cheaper).
    """
    kernel = kernel.astype(np.float64)
    terms, approx, taps = [], np.zeros(kernel.shape, dtype=np.float64), 0
    size = kernel.shape[0]
    for _ in range(size):
        u, sigma, v = _top_singular_pair(kernel - approx)
        scale = math.sqrt(sigma)
        column, row = _crop_support(u * scale), _crop_support(v * scale)
        taps += len(column) + len(row)
        if taps > max_taps:
            return None
        terms.append((column.astype(np.float32), row.astype(np.float32)))
        pad_c, pad_r = (size - len(column)) // 2, (size - len(row)) // 2
        approx += np.pad(np.outer(column, row), ((pad_c, pad_c), (pad_r, pad_r)))
        if np.abs(kernel - approx).sum() <= L1_TOLERANCE:
            return terms
    return terms


def blur(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """`cv2.filter2D(image, -1, kernel)` for float32 (H, W, C), computed the cheaper way.

    Borders are reflected (BORDER_REFLECT_101, the filter2D default) on every path; the separable
    path differs from the dense filter by at most `L1_TOLERANCE` per pixel for images in [0, 1],
    the FFT path by float rounding (~1e-6).
    """
    terms = separable_terms(kernel)
    if terms is None:
        return fft_filter(image, kernel)
    out = None
    for column, row in terms:
        # sepFilter2D correlates; SVD factors of a point-symmetric kernel are each even or odd, so
        # flipping both (convolution) changes nothing.
        blurred = cv2.sepFilter2D(image, cv2.CV_32F, row, column, borderType=cv2.BORDER_REFLECT_101)
        out = blurred if out is None else cv2.add(out, blurred)
    return out


def blur_and_resize(image: np.ndarray, kernel: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`cv2.resize(blur(image, kernel), size, INTER_LINEAR)` with less work when it shrinks.

    For separable terms the horizontal pass runs at full size, then the horizontal resize, and
    the vertical pass only on the narrower image. Filtering and resizing along different axes
    commute and cv2's bilinear resize is separable, so this equals blurring first (to float
    rounding, tested) at about two thirds of the cost for shrink factors >= 2.
    """
    w, h = size
    terms = separable_terms(kernel)
    if terms is None or w > 0.8 * image.shape[1]:
        return cv2.resize(blur(image, kernel), size, interpolation=cv2.INTER_LINEAR)
    one = np.ones(1, np.float32)
    out = None
    for column, row in terms:
        rows = cv2.sepFilter2D(image, cv2.CV_32F, row, one, borderType=cv2.BORDER_REFLECT_101)
        narrow = cv2.resize(rows, (w, image.shape[0]), interpolation=cv2.INTER_LINEAR)  # (H, w, C)
        cols = cv2.sepFilter2D(narrow, cv2.CV_32F, one, column, borderType=cv2.BORDER_REFLECT_101)
        small = cv2.resize(cols, (w, h), interpolation=cv2.INTER_LINEAR)  # (h, w, C)
        out = small if out is None else cv2.add(out, small)
    return out


def _fft_size(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (fast FFT lengths)."""
    best = 1 << (n - 1).bit_length()
    for a in range(0, best.bit_length() + 1):
        for b in range(0, 8):
            base = (1 << a) * 3 ** b
            while base < n:
                base *= 5
            best = min(best, base)
    return best


def fft_filter(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Dense correlation of float32 (H, W, C) with a square odd kernel through one real FFT.

    For the 41x41 kernels here this costs ~15% less than `cv2.filter2D`'s own tiled DFT (measured
    in experiments/bench_degradation.py), and any kernel works, so it takes the rotated
    anisotropic kernels that too many separable terms would make slow.
    """
    import torch  # local: only this path needs torch

    h, w, _ = image.shape
    pad = kernel.shape[0] // 2
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)  # (H+2p, W+2p, C)
    size = (_fft_size(h + 2 * pad), _fft_size(w + 2 * pad))
    signal = torch.from_numpy(padded).permute(2, 0, 1)  # (C, H+2p, W+2p)
    flipped = torch.from_numpy(np.ascontiguousarray(kernel[::-1, ::-1], dtype=np.float32))
    spectrum = torch.fft.rfft2(signal, s=size) * torch.fft.rfft2(flipped, s=size)
    full = torch.fft.irfft2(spectrum, s=size)  # (C, *size): linear convolution, no wrap-around needed
    return full[:, 2 * pad: 2 * pad + h, 2 * pad: 2 * pad + w].permute(1, 2, 0).contiguous().numpy()

"""Gaussian blur kernels of the GFP-GAN degradation model (paper §4.1, docs/degradation.md) and a fast blur.

The official pipeline builds a 41x41 (an)isotropic Gaussian kernel and convolves it densely with
`cv2.filter2D`, about half of the per-image degradation time at 512 px. An isotropic or axis-aligned
Gaussian is exactly separable; a rotated anisotropic one is written as a short sum of separable
terms (a truncated SVD of the kernel matrix by power iteration, stopped once the L1 norm of the
rest is below `L1_TOLERANCE`) and applied as pairs of 1-D passes. The 1-D factors are cropped to their support,
which makes small-sigma kernels cheap. Kernels that would need many terms (thin, rotated) go through
one FFT of the image instead, which is exact and a little cheaper than cv2's dense DFT filter.
When the blurred image is shrunk right after (the downsampling step), `blur_and_resize` does the
resize between the passes, so most of the work runs on the smaller image.
"""

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
    # inverse covariance R diag(1/sx^2, 1/sy^2) R^T, written out (no LAPACK call per image)
    ix, iy = 1.0 / sigma_x ** 2, 1.0 / sigma_y ** 2
    a, b, c = cos * cos * ix + sin * sin * iy, cos * sin * (ix - iy), sin * sin * ix + cos * cos * iy
    kernel = np.exp(-0.5 * (a * xx * xx + 2.0 * b * xx * yy + c * yy * yy))
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
    size = kernel.shape[0]
    centre = size // 2
    # Isotropic and axis-aligned kernels are exactly the outer product of their centre column and
    # row: check that directly before any iteration.
    column, row = kernel[:, centre], kernel[centre, :]
    if np.abs(kernel - np.outer(column, row) / kernel[centre, centre]).sum() <= L1_TOLERANCE:
        scale = math.sqrt(kernel[centre, centre])
        column, row = _crop_support(column / scale), _crop_support(row / scale)
        if len(column) + len(row) <= max_taps:
            return [(column.astype(np.float32), row.astype(np.float32))]
        return None
    terms, approx, taps = [], np.zeros(kernel.shape, dtype=np.float64), 0
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
    rounding, tested) at about two thirds of the cost for shrink factors >= 2. Kernels for the FFT
    path shrink between the two inverse transforms instead (`fft_filter_and_resize`).
    """
    w, h = size
    terms = separable_terms(kernel)
    if terms is None and h < 0.8 * image.shape[0]:
        return fft_filter_and_resize(image, kernel, size)
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
    for a in range(best.bit_length() + 1):
        for b in range(8):
            base = (1 << a) * 3 ** b
            while base < n:
                base *= 5
            best = min(best, base)
    return best


def _spectra(image: np.ndarray, kernel: np.ndarray):
    """Product of the real FFTs of the reflect-padded image and the flipped kernel, and the layout."""
    import torch  # local: only the FFT path needs torch

    h, w, _ = image.shape
    pad = kernel.shape[0] // 2
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)  # (H+2p, W+2p, C)
    ny, nx = _fft_size(h + 2 * pad), _fft_size(w + 2 * pad)
    signal = torch.fft.rfft2(torch.from_numpy(padded).permute(2, 0, 1), s=(ny, nx))  # (C, ny, nx/2+1)
    flipped = torch.from_numpy(np.ascontiguousarray(kernel[::-1, ::-1], dtype=np.float32))
    # the kernel has only 2p+1 non-zero rows: transform those along x, then along y
    response = torch.fft.fft(torch.fft.rfft(flipped, n=nx, dim=1), n=ny, dim=0)  # (ny, nx/2+1)
    return signal * response, pad, ny, nx


def fft_filter(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Dense correlation of float32 (H, W, C) with a square odd kernel through one real FFT.

    Any kernel works, so this takes the rotated anisotropic kernels that too many separable terms
    would make slow; it matches `cv2.filter2D` to float rounding. The padded length is at least
    H + 2p, so the circular wrap-around only touches the border rows that are cropped away.
    """
    import torch

    h, w, _ = image.shape
    spectrum, pad, ny, nx = _spectra(image, kernel)
    full = torch.fft.irfft2(spectrum, s=(ny, nx))  # (C, ny, nx)
    return full[:, 2 * pad: 2 * pad + h, 2 * pad: 2 * pad + w].permute(1, 2, 0).contiguous().numpy()


def fft_filter_and_resize(image: np.ndarray, kernel: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`cv2.resize(fft_filter(image, kernel), size, INTER_LINEAR)`, shrinking before the last transform.

    After the inverse transform along y, the vertical bilinear resize (linear, along y only) is
    applied to the half-spectrum rows, so the inverse transform along x runs on the output rows
    only. Same result to float rounding (tested).
    """
    import torch

    h, w, channels = image.shape
    out_w, out_h = size
    spectrum, pad, _, nx = _spectra(image, kernel)
    rows = torch.fft.ifft(spectrum, dim=1)[:, 2 * pad: 2 * pad + h]  # (C, H, nx/2+1) complex
    bins = rows.shape[2]
    flat = rows.permute(1, 0, 2).reshape(h, channels * bins)  # (H, C*bins)
    parts = [cv2.resize(np.ascontiguousarray(part.numpy()), (channels * bins, out_h), interpolation=cv2.INTER_LINEAR)
             for part in (flat.real, flat.imag)]  # each (out_h, C*bins)
    shrunk = torch.complex(torch.from_numpy(parts[0]), torch.from_numpy(parts[1]))
    shrunk = shrunk.reshape(out_h, channels, bins)
    filtered = torch.fft.irfft(shrunk, n=nx, dim=2)[:, :, 2 * pad: 2 * pad + w]  # (out_h, C, W)
    filtered = filtered.permute(0, 2, 1).contiguous().numpy()  # (out_h, W, C)
    return cv2.resize(filtered, (out_w, out_h), interpolation=cv2.INTER_LINEAR)

"""OkLab, a perceptual colour space (Björn Ottosson, "A perceptual color space for image
processing", 2020, https://bottosson.github.io/posts/oklab/): lightness ``L`` in ``[0, 1]``
and two opponent chroma axes ``a`` (green-red) and ``b`` (blue-yellow), about ``[-0.4, 0.4]``.

sRGB values are decoded with the sRGB transfer function before Ottosson's matrices; arrays
are NumPy ``(..., 3)``, computed in float64.
"""

from __future__ import annotations

import numpy as np

#: Linear sRGB to cone responses (LMS).
_RGB_TO_LMS = np.array([
    [0.4122214708, 0.5363325363, 0.0514459929],
    [0.2119034982, 0.6806995451, 0.1073969566],
    [0.0883024619, 0.2817188376, 0.6299787005],
])
#: Cube roots of the cone responses to L, a, b.
_LMS_TO_LAB = np.array([
    [0.2104542553, 0.7936177850, -0.0040720468],
    [1.9779984951, -2.4285922050, 0.4505937099],
    [0.0259040371, 0.7827717662, -0.8086757660],
])
_LAB_TO_LMS = np.array([
    [1.0, 0.3963377774, 0.2158037573],
    [1.0, -0.1055613458, -0.0638541728],
    [1.0, -0.0894841775, -1.2914855480],
])
_LMS_TO_RGB = np.array([
    [4.0767416621, -3.3077115913, 0.2309699292],
    [-1.2684380046, 2.6097574011, -0.3413193965],
    [-0.0041960863, -0.7034186147, 1.7076147010],
])


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """Decode sRGB values in ``[0, 1]`` to linear light (IEC 61966-2-1)."""
    rgb = np.asarray(rgb, dtype=np.float64)
    return np.where(rgb <= 0.04045, rgb / 12.92, ((np.maximum(rgb, 0.04045) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """Encode linear light in ``[0, 1]`` as sRGB values (IEC 61966-2-1)."""
    linear = np.asarray(linear, dtype=np.float64)
    return np.where(linear <= 0.0031308, linear * 12.92,
                    1.055 * np.maximum(linear, 0.0031308) ** (1 / 2.4) - 0.055)


def linear_to_oklab(linear: np.ndarray) -> np.ndarray:
    """OkLab of linear sRGB, ``(..., 3)``."""
    return np.cbrt(np.asarray(linear, dtype=np.float64) @ _RGB_TO_LMS.T) @ _LMS_TO_LAB.T


def oklab_to_linear(lab: np.ndarray) -> np.ndarray:
    """Linear sRGB of OkLab, ``(..., 3)``; colours outside the sRGB gamut fall outside ``[0, 1]``."""
    return (np.asarray(lab, dtype=np.float64) @ _LAB_TO_LMS.T) ** 3 @ _LMS_TO_RGB.T


def srgb_to_oklab(rgb: np.ndarray) -> np.ndarray:
    """OkLab of sRGB values in ``[0, 1]``, ``(..., 3)``."""
    return linear_to_oklab(srgb_to_linear(rgb))


def oklab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """sRGB values of OkLab colours inside the sRGB gamut, ``(..., 3)``; see :func:`oklab_to_srgb_in_gamut`
    for the others."""
    return linear_to_srgb(oklab_to_linear(lab))


def oklab_to_srgb_in_gamut(lab: np.ndarray, *, steps: int = 24) -> np.ndarray:
    """sRGB values in ``[0, 1]`` of OkLab colours, each one outside the gamut brought in by
    shrinking its chroma (``a`` and ``b`` together, keeping the hue) until it fits, its
    lightness kept: CSS Color 4's gamut mapping in OkLCh.

    :param lab: ``(..., 3)`` with ``L`` in ``[0, 1]`` (a grey of any such lightness is in gamut).
    :param steps: bisection steps on each outside colour's chroma factor.
    """
    lab = np.array(lab, dtype=np.float64)
    linear = oklab_to_linear(lab)
    outside = ((linear < 0.0) | (linear > 1.0)).any(axis=-1)
    if outside.any():
        lightness, chroma = lab[outside][:, :1], lab[outside][:, 1:]
        low, high = np.zeros_like(lightness), np.ones_like(lightness)
        for _ in range(steps):
            middle = (low + high) / 2
            test = oklab_to_linear(np.concatenate((lightness, chroma * middle), axis=-1))
            fits = ((test >= 0.0) & (test <= 1.0)).all(axis=-1, keepdims=True)
            low, high = np.where(fits, middle, low), np.where(fits, high, middle)
        linear[outside] = oklab_to_linear(np.concatenate((lightness, chroma * low), axis=-1))
    return linear_to_srgb(np.clip(linear, 0.0, 1.0))

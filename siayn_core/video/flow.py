"""Dense optical flow between frames and what a stylized clip does with it (Ruder et al.,
"Artistic style transfer for videos", GCPR 2016): the previous stylized frame warped onto
the next, and the pixels where that warp can be trusted."""

from __future__ import annotations

import numpy as np
from PIL import Image


def dense_flow(source: Image.Image, target: Image.Image) -> np.ndarray:
    """OpenCV's DIS flow from ``source`` to ``target``: ``(H, W, 2)`` float32 (x, y)
    displacements, so ``target(p + flow(p)) ~ source(p)``."""
    import cv2

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    gray = [cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2GRAY) for image in (source, target)]
    return dis.calc(gray[0], gray[1], None)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` sampled at ``p + flow(p)`` (bilinear; edges replicated): with the flow from
    frame ``t`` to ``t - 1``, frame ``t - 1``'s pixels moved to where they are in frame ``t``."""
    import cv2

    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return cv2.remap(image, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def consistency(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Where the flows agree, ``(H, W)`` float32 of 0 and 1 (Ruder et al., eq. 6): the
    backward flow ``t -> t-1`` followed by the forward flow ``t-1 -> t`` should come back to
    the start; where it does not, the pixel was occluded or moves at a motion boundary."""
    forward_there = warp(forward, backward)
    round_trip = np.square(backward + forward_there).sum(-1)
    magnitudes = np.square(backward).sum(-1) + np.square(forward_there).sum(-1)
    return (round_trip <= 0.01 * magnitudes + 0.5).astype(np.float32)


def inside(flow: np.ndarray) -> np.ndarray:
    """Where ``p + flow(p)`` falls inside the frame, ``(H, W)`` bool: elsewhere the pixel has
    just come into view and a warp has nothing to bring there."""
    height, width = flow.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    x, y = grid_x + flow[..., 0], grid_y + flow[..., 1]
    return (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)

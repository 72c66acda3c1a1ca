"""Foreground masks: OpenCV GrabCut and torchvision's FCN-ResNet101."""

from __future__ import annotations


import cv2
import numpy as np
from PIL import Image

from siayn_core import SiaynError, first_line, hub_checkpoint_path, resolve_device


def grabcut_mask(
    image: Image.Image, *, margin: float = 0.05, iterations: int = 5, work_size: int = 320
) -> Image.Image:
    """A white-on-black (mode ``L``) foreground mask from ``cv2.grabCut`` initialised with a
    centred rectangle: everything outside it is taken as certain background.

    :param work_size: GrabCut runs on a copy whose longest side is at most this many pixels
        (its cost grows quickly with size); the mask is scaled back to ``image``'s size.
        0: full size.
    """
    full_size = image.size
    if work_size and max(full_size) > work_size:
        ratio = work_size / max(full_size)
        small = (max(1, round(full_size[0] * ratio)), max(1, round(full_size[1] * ratio)))
        image = image.resize(small, Image.Resampling.BOX)
    rgb = np.asarray(image.convert("RGB"))
    height, width = rgb.shape[:2]
    if min(height, width) < 4:
        raise SiaynError(f"grabcut needs an image of at least 4x4 pixels, got {width}x{height}")
    dx = max(1, round(width * margin))
    dy = max(1, round(height * margin))
    rect = (dx, dy, width - 2 * dx, height - 2 * dy)
    labels = np.zeros((height, width), np.uint8)
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    cv2.grabCut(
        cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), labels, rect, background_model, foreground_model,
        iterations, cv2.GC_INIT_WITH_RECT,
    )
    foreground = (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)
    mask = Image.fromarray(np.where(foreground, 255, 0).astype(np.uint8), "L")
    if mask.size != full_size:
        mask = mask.resize(full_size, Image.Resampling.BILINEAR).point(lambda value: 255 if value >= 128 else 0)
    return mask


def fcn_resnet101_mask(image: Image.Image, *, device: str = "auto") -> Image.Image:
    """A white-on-black (mode ``L``) mask of every pixel torchvision's pretrained
    FCN-ResNet101 does not label ``__background__``."""
    import torch
    from torchvision.models.segmentation import FCN_ResNet101_Weights, fcn_resnet101

    weights = FCN_ResNet101_Weights.DEFAULT
    state = load_state_dict(weights.url)  # first: fail fast, before building the network
    model = fcn_resnet101(weights=None, weights_backbone=None,
                          num_classes=len(weights.meta["categories"]), aux_loss=True)
    model.load_state_dict(state)
    target = resolve_device(device)
    model.eval().to(target)
    # The weights' own preprocessing (ImageNet normalization) without its 520 px resize:
    # the image was already scaled by the user's scaler.
    batch = weights.transforms(resize_size=None)(image.convert("RGB")).unsqueeze(0).to(target)
    with torch.no_grad():
        labels = model(batch)["out"][0].argmax(0).cpu().numpy()
    return Image.fromarray(np.where(labels != 0, 255, 0).astype(np.uint8), "L")


def load_state_dict(url: str) -> dict:
    """torchvision's pretrained weights from the hub cache, downloaded on first use;
    a clear SiaynError naming the URL and the cache path when that fails (e.g. offline)."""
    import torch

    path = hub_checkpoint_path(url)
    try:
        return torch.hub.load_state_dict_from_url(
            url, progress=False, check_hash=True, map_location="cpu", weights_only=True
        )
    except Exception as error:  # offline, refused, truncated or corrupt download
        raise SiaynError(
            f"cannot load the fcn_resnet101 weights ({first_line(error)}): download {url} to {path}, "
            "or use mask-create's method 'grabcut', which needs no weights"
        ) from None

"""The schema of a stylize run: :class:`StylizeOptions`, every key a config file, ``--set``,
the GUI and :func:`siayn_core.stylize` accept, and :class:`RunSpec`, one resolved run.

:func:`siayn_core.config.build.build_options` validates loose values (YAML, ``--set``,
keywords) into it; the original SIAYN's keys load unchanged: ``1e5`` (which YAML reads as
text) is a number, ``null`` disables, ``opt: 'LFBGS'`` and ``backbone: 'VGG19'`` name
components case-insensitively. Reading files is :mod:`siayn_core.config.loader`'s job;
checks against the registry are :mod:`siayn_core.config.components`'.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..plugin.hypercolumns import PIXELS
from ..plugin.options import option

if TYPE_CHECKING:
    from PIL import Image

#: How a style image is sized for each stage (``style_resize``).
STYLE_RESIZE_MODES = ("stretch", "short-side", "none")

#: What the run does with colour (``color_control``, :mod:`siayn_core.engine.colour_control`).
COLOR_CONTROLS = ("none", "luminance", "match", "oklab-chroma")

#: STROTSS's hypercolumn (Kolkin, Salavon and Shakhnarovich 2019): the image and VGG16's
#: relu1_1 to relu5_3 without relu4_1, relu4_2, relu5_1 and relu5_2.
STROTSS_LAYERS = [PIXELS, "relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu4_3",
                  "relu5_3"]

#: NNST's hypercolumn (Kolkin et al. 2022): every ReLU of VGG16 from relu1_1 to relu4_3.
NNST_LAYERS = ["relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu4_1", "relu4_2",
               "relu4_3"]

#: STROTSS's content weight alpha, one value for every stage (docs/stylize.md#recipes-strotss-and-nnst).
STROTSS_ALPHA = 8.0

#: The defaults a ``recipe`` gives the keys a run leaves out, over StylizeOptions' own (the
#: ``siayn`` recipe). ``KEY.OPTION`` entries fill an option of the chosen component where it
#: declares one, as :data:`SHORTCUTS` do. A recipe chosen with ``--set`` replaces the config
#: file's values of these keys (:func:`siayn_core.config.build.yield_to_recipe`).
RECIPES: dict[str, dict[str, Any]] = {
    "siayn": {},
    "original": {
        "style_weight": 1e5, "content_weight": 1e3, "tv_weight": 1e-2, "style_resize": "stretch",
        "style_loss_options.reduction": "sum", "style_reference": None,
    },
    # 4 stages of 64 to 512 px on the long side of a 4:3 output of 512 px, 100 steps each.
    "strotss": {
        "style_loss": "remd", "content_loss": "self-similarity", "style_layers": STROTSS_LAYERS,
        "style_layers_weights": None, "content_layers": STROTSS_LAYERS, "style_weight": 1.0,
        "content_weight": STROTSS_ALPHA, "style_loss_options.palette_weight": 1.0 / STROTSS_ALPHA, "tv_weight": None,
        "init_method": "content", "opt": "rmsprop", "lr": 2e-3, "parametrization": "laplacian",
        "parametrization_options.levels": 5, "num_steps": 400, "min_size": 48, "scale_factor": 2.0,
        "step_decay": 1.0, "final_share": 0.25,
    },
    # 4 stages of 100 steps, the last followed by NNST's final pass of 100 (half of its 200).
    "nnst": {
        "style_loss": "nn-target", "style_layers": NNST_LAYERS, "style_layers_weights": None, "style_weight": 1.0,
        "content_weight": 0.0, "tv_weight": None, "init_method": "content", "opt": "adam", "lr": 2e-3,
        "parametrization": "laplacian", "parametrization_options.levels": 8, "num_steps": 500, "min_size": 48,
        "scale_factor": 2.0, "step_decay": 1.0, "final_share": 0.4, "style_loss_options.final_pass": 0.5,
        "style_loss_options.step_samples": 2048, "color_control": "none",
    },
}

#: What each recipe is, for the line a run prints.
RECIPE_SUMMARIES: dict[str, str] = {
    "siayn": "today's defaults",
    "original": "the original SIAYN's weights and style sizing",
    "strotss": "STROTSS's losses, layers, pyramid, RMSprop and 4 scales",
    "nnst": "NNST's nearest-neighbour targets, pyramid, Adam and 4 scales",
}

#: Every key of the original SIAYN's stylize config, which its code required in each run; a
#: run that sets them all and no ``recipe`` was written for that project: ``recipe: original``.
ORIGINAL_KEYS = frozenset({
    "scaler", "init_method", "backbone", "lr", "opt", "num_steps", "style_weight", "content_weight",
    "tv_weight", "norm", "style_layers", "style_layers_weights", "style_resize", "content_layers", "style",
    "content",
})

#: Top-level keys that fill an option of the chosen component when it declares one
#: (an entry in the component's ``*_options`` mapping wins over them).
SHORTCUTS: dict[str, tuple[str, str]] = {
    "norm": ("backbone_options", "normalize"),
    "lr": ("opt_options", "lr"),
}


@dataclass(frozen=True)
class StylizeOptions:
    """Every setting of one stylize run: the original SIAYN's keys, then SIAYN's own."""

    content: str = option("tubingen.jpg", help="content image: a file name looked up in content_dir, or a path")
    style: list[str] = option(
        ["starry_night.jpg"],
        help="style image(s): a name looked up in style_dir, or a path; a list blends several styles",
    )
    scaler: float = option(
        1.0,
        help="output size relative to the content image (0.5 halves it; above 1 is the original SIAYN's 'super resolution')",
        minimum=0.01,
        maximum=16.0,
    )
    size: int | None = option(
        None,
        help="output size: the longer side in px, aspect ratio kept (wins over scaler); "
        "null: the content image's size times scaler",
        minimum=16,
    )
    init_method: str = option(
        "content", help="initialiser of the generated image: random, content or style (or a plugin's)"
    )
    backbone: str = option("vgg16", help="feature network: vgg16, vgg19 or timm:<model> (or a plugin's)")
    lr: float | None = option(
        None,
        help="learning rate (step size) of the optimizer; null: the optimizer's own default "
        "(1 for lbfgs, 0.02 for adam, 0.01 for rmsprop)",
        minimum=0.0,
    )
    opt: str = option("lbfgs", help="optimizer: lbfgs (alias LFBGS), adam or rmsprop (or a plugin's)")
    num_steps: int = option(300, help="optimization steps; each evaluates the loss once", minimum=1)
    style_weight: float | list[float] = option(
        1.2e6,
        help="weight of the style loss; with several styles a list (one weight each) or one number shared equally",
        minimum=0.0,
    )
    content_weight: float = option(1.0, help="weight of the content loss", minimum=0.0)
    tv_weight: float | None = option(
        None, help="weight of the total variation loss (smoothness); null disables it", minimum=0.0
    )
    norm: bool = option(
        True, help="normalize the input with ImageNet's mean and std (the backbone's normalize option)"
    )
    style_layers: list[str] = option(
        ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"],
        help="backbone layers whose Gram matrices define style (names like relu3_1, conv3_1 or the original SIAYN's conv_5)",
    )
    style_layers_weights: list[float] | None = option(
        None,
        help="one weight per style layer; the weighted layer losses are averaged (null: every layer weighs 1)",
        minimum=0.0,
    )
    style_resize: str = option(
        "short-side",
        help="how each style image is sized for a stage: stretch (to the stage's width and height, the "
        "original SIAYN's true), short-side (its short side to the stage's, keeping its aspect ratio) or "
        "none (its own size at the output size, the original SIAYN's false)",
        choices=STYLE_RESIZE_MODES,
    )
    content_layers: list[str] = option(["relu4_2"], help="backbone layers whose activations define content")
    color_control: str = option(
        "none",
        help="what the run does with colour: none; luminance (optimize luminance only, each style's matched "
        "to the photo's, then put the photo's colours back); match (give each style image the photo's colour "
        "mean and covariance before the run); oklab-chroma (after the run, keep the result's OkLab lightness "
        "and give it the photo's chroma in the paintings' chroma mean and covariance, smoothed along the "
        "result's edges: Neural Neighbor Style Transfer's colour step)",
        choices=COLOR_CONTROLS,
    )
    style_masks: list[str] | None = option(
        None,
        help="where each style applies: one mask image per style (white: that style; grey: partly), one "
        "colour-key image with a colour per style, or auto (two styles: the first on the photo's foreground, "
        "found by auto_mask, the second on the rest); null: every style everywhere",
    )
    style_mask_colors: list[str] | None = option(
        None,
        help="with a colour-key image in style_masks: each style's colour (#rrggbb), in the styles' order; "
        "null: the image's most frequent colours, most frequent first",
    )
    content_mask: str | None = option(
        None, help="a mask image, white where the photo is kept as it is (no style there); null: none"
    )
    style_scale: float = option(
        1.0,
        help="the size of the style images relative to what style_resize gives them, at every stage: 2 paints "
        "brush strokes twice as large, 0.5 half as large",
        minimum=0.25,
        maximum=4.0,
    )
    style_reference: int | None = option(
        512,
        help="outputs larger than this many px on the long side are optimized as an output of this size (its "
        "stages and steps, the style images sized for it), then carried up to the output size as a next stage "
        "starts (stage_start: the photo at full size plus the upsampled change): brush strokes keep their size "
        "relative to the picture at any output size; null: every size is optimized (strokes of VGG's pixel "
        "scale, a fine speckle on a large output)",
        minimum=64,
    )
    fine_style: str | None = option(
        None,
        help="a second style image for the fine layers (fine_layers), the other styles keeping the coarse "
        "ones: the brushwork of one painting with the forms of another; null: none",
    )
    fine_layers: list[str] = option(
        ["relu1_1", "relu2_1"], help="the style layers fine_style takes (shallow layers: fine texture)"
    )
    auto_mask: str = option("grabcut", help="the masker that finds the foreground for style_masks: auto "
                            "(grabcut, or fcn for torchvision's FCN-ResNet101, or a plugin's)")
    auto_mask_options: dict[str, Any] = option({}, help="options of the auto_mask masker, e.g. {iterations: 8}")
    recipe: str = option(
        "siayn",
        help="the defaults of the keys a run leaves out: siayn (these keys' own defaults); original (the "
        "original SIAYN's: style_weight 1e5, content_weight 1e3, tv_weight 1e-2, style_resize stretch, summed "
        "Gram differences); strotss (STROTSS's relaxed EMD and self-similarity on hypercolumns, Laplacian "
        "pyramid, RMSprop, 4 scales); nnst (NNST's nearest-neighbour targets, Laplacian pyramid, Adam, 4 scales; "
        "its colour step is color_control: oklab-chroma); a run with all of the original SIAYN's keys and no "
        "recipe is original",
        choices=tuple(RECIPES),
    )
    content_dir: str = option("data/content", help="folder for content image names; relative to the config file")
    style_dir: str = option("data/style", help="folder for style image names; relative to the config file")
    content_loss: str = option("mse", help="loss comparing content features (a registered loss)")
    style_loss: str = option("gram", help="loss comparing style features (a registered loss)")
    tv_loss: str = option("tv", help="regularizer of the image itself, weighted by tv_weight (a registered loss)")
    parametrization: str = option(
        "pixels",
        help="what the optimizer moves: pixels (each pixel), or laplacian (the bands of a Laplacian pyramid "
        "of the image, as STROTSS and NNST optimize it with rmsprop or adam: coarse forms change as readily as "
        "fine texture) (or a plugin's)",
    )
    backbone_options: dict[str, Any] = option(
        {}, help="options of the backbone, e.g. {weights: none, pooling: avg}"
    )
    content_loss_options: dict[str, Any] = option({}, help="options of the content loss")
    style_loss_options: dict[str, Any] = option({}, help="options of the style loss")
    tv_loss_options: dict[str, Any] = option({}, help="options of the total variation loss")
    init_options: dict[str, Any] = option({}, help="options of the initialiser, e.g. {std: 0.1} for random")
    opt_options: dict[str, Any] = option({}, help="options of the optimizer, e.g. {history_size: 50}")
    parametrization_options: dict[str, Any] = option(
        {}, help="options of the parametrization, e.g. {levels: 4} for laplacian"
    )
    save_every: int = option(
        0, help="save the image every N steps as <run>/frames/frame_<step>.png (0: never)", minimum=0
    )
    seed: int | None = option(
        None, help="random seed; the same seed repeats a CPU run exactly (null: a new seed each run)"
    )
    postprocess: list[Any] = option(
        [],
        help="postprocessors applied to the result, in order: names, or {name: ..., <options>} "
        "mappings; each result is saved next to the unprocessed image",
    )
    min_size: int | None = option(
        128,
        help="multi-scale: short side in px of the first, coarsest stage; the image is then upscaled by "
        "about scale_factor per stage up to the output size (null: one stage at the output size, "
        "as the original SIAYN). num_steps is the total over all stages",
        minimum=16,
    )
    scale_factor: float = option(
        2.0, help="multi-scale: size ratio between successive stages", minimum=1.05, maximum=4.0
    )
    final_share: float = option(
        0.8,
        help="multi-scale: the share of num_steps taken at the output size; the coarse stages split the rest",
        minimum=0.0,
        maximum=1.0,
    )
    step_decay: float = option(
        0.5,
        help="multi-scale: each coarse stage gets this times the steps of the one before (most of the "
        "coarse steps go to the smallest, cheapest size)",
        minimum=0.01,
        maximum=10.0,
    )
    stage_start: str = option(
        "content-detail",
        help="multi-scale: how a stage starts from the previous stage's image: upsample (resized), or "
        "content-detail (this stage's content plus the resized change the previous stage made to its content)",
        choices=("upsample", "content-detail"),
    )
    stage_steps: list[int] | None = option(
        None,
        help="multi-scale: the steps of each stage, coarsest first, replacing num_steps and step_decay; "
        "the list's length sets the number of stages (null: split num_steps)",
        minimum=0,
    )
    keep_in_range: bool = option(
        True,
        help="keep every pixel in [0, 1] during the optimization (projected steps), so the image optimized "
        "is the image saved; false: the original SIAYN's unconstrained optimization, clamped only when saved",
    )
    average: float = option(
        0.0,
        help="keep an exponential moving average of the image with this decay (0: off; e.g. 0.9): the "
        "average is the image previewed, saved and carried into the next stage",
        minimum=0.0,
        maximum=0.999,
    )
    tile_size: int | None = option(
        1024,
        help="images wider or taller than this many px are optimized in overlapping tiles of at most "
        "this size (less memory, same objective); null: never tile",
        minimum=128,
    )
    tile_overlap: int = option(
        64, help="context in px added around each tile's core (rounded up to a multiple of 32)", minimum=32
    )
    channels_last: bool | None = option(
        None, help="run the backbone in the channels_last memory format (null: auto, on for cpu and cuda)"
    )
    precision: str = option(
        "auto",
        help="backbone precision (the losses compare in float32): auto (bfloat16 on GPUs that support it "
        "and CPUs that compute it natively, float32 elsewhere), float32, bfloat16 (on a CPU without native "
        "bfloat16 it runs, but slowly) or float16 (CUDA only); on MPS always float32",
        choices=("auto", "float32", "bfloat16", "float16"),
    )
    compile: bool = option(
        False, help="compile the backbone with torch.compile (slow to start, recompiles at every stage size)"
    )


#: The ``*_options`` keys and the component kind each one configures, with the key naming it.
COMPONENT_KEYS: dict[str, tuple[str, str]] = {
    "backbone": ("backbone", "backbone_options"),
    "content_loss": ("loss", "content_loss_options"),
    "style_loss": ("loss", "style_loss_options"),
    "tv_loss": ("loss", "tv_loss_options"),
    "init_method": ("initialiser", "init_options"),
    "opt": ("optimizer", "opt_options"),
    "parametrization": ("parametrization", "parametrization_options"),
}


@dataclass(frozen=True)
class RunPictures:
    """A run's pictures, decoded once: the photo, the styles and the side images."""

    content: Image.Image
    styles: tuple[Image.Image, ...]
    masks: tuple[Image.Image, ...] = ()
    content_mask: Image.Image | None = None
    fine_style: Image.Image | None = None


@dataclass(frozen=True)
class RunSpec:
    """One resolved run (:func:`siayn_core.config.resolve.resolve_run`): its name, options,
    the image files they name, the pictures decoded from them and the output size."""

    name: str
    options: StylizeOptions
    content: Path
    styles: tuple[Path, ...]
    source: Path | None = None
    #: The photo came from the command line and its size was capped at the default photo size.
    capped: bool = False
    #: The images ``style_masks`` names (none for ``auto``), ``content_mask``'s and ``fine_style``'s.
    masks: tuple[Path, ...] = ()
    content_mask: Path | None = None
    fine_style: Path | None = None
    #: The output's ``(width, height)``, computed once from the photo and the options.
    size: tuple[int, int] = (0, 0)
    pictures: RunPictures | None = None

    @property
    def where(self) -> str:
        """``run 'test1' in path/to/config.yaml``, for messages."""
        return f"run {self.name!r}" + (f" in {self.source}" if self.source else "")

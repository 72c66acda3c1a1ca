"""What each kind of component's factory returns.

Images are float tensors shaped ``(1, 3, H, W)`` with RGB values in ``[0, 1]``, unless a
protocol says otherwise. torch is imported for type checking only, so this module stays
cheap to import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch
    from PIL import Image


@runtime_checkable
class FeatureExtractor(Protocol):
    """A frozen network, truncated after the deepest requested layer."""

    def __call__(self, image: torch.Tensor) -> Mapping[str, torch.Tensor]:
        """Run one forward pass and return the requested layers' activations.

        :param image: RGB in ``[0, 1]``; any input normalization happens inside.
        :returns: activations keyed by the layer names exactly as they were requested.
        """
        ...


@runtime_checkable
class Backbone(Protocol):
    """A feature network whose layers can be named.

    Creating one must be cheap: the network is built and its weights loaded in
    :meth:`extractor`, so that configs are checked without either.
    """

    def layer_names(self) -> Sequence[str]:
        """The canonical names of the layers this backbone offers, shallowest first."""
        ...

    def layer_index(self, name: str) -> int:
        """The depth of the layer called ``name`` (any spelling the backbone accepts).

        Raises :class:`~siayn_core.SiaynError` naming the layer for one it does not have.
        Called to check a config before any run, so it must not build the network.
        """
        ...

    def extractor(self, layers: Sequence[str]) -> FeatureExtractor:
        """Build a frozen extractor in eval mode that returns ``layers``.

        Raises :class:`~siayn_core.SiaynError` naming the layer for a layer it does not have.
        """
        ...


@runtime_checkable
class Loss(Protocol):
    """A loss term comparing a representation of the generated image with a target.

    Comparison losses (content, style) receive features; a regularizer such as total
    variation receives the generated image itself and ``target=None``. A content loss may
    declare ``combines`` (``"sum"`` or ``"mean"``: how its value over positions put side by
    side relates to its parts), which tiled runs use to weigh tiles; ``"mean"`` is assumed.
    A style loss that is exact on tiles is a :class:`TileableLoss`.

    A style loss that supports masks (``style_masks``, ``content_mask``) declares
    ``guided = True``. Its ``target`` and ``__call__`` then accept a keyword ``guide``: a
    ``(1, 1, h, w)`` tensor of weights in ``[0, 1]`` at the features' resolution, or None.
    With a guide, the representation is taken over the positions weighted by it and
    normalized by the guide's total weight, so a guide of ones gives the unguided value.
    A run with masks and a style loss without ``guided`` is refused before it starts.

    Features arrive in float32. A loss that declares ``takes_bfloat16 = True`` receives them in
    bfloat16 where the backbone runs in it, and computes accurately from them itself.

    A loss that compares feature vectors of several layers at shared positions (STROTSS,
    NNST) declares ``hypercolumns = True`` and ``samples`` (an int: how many positions of the
    generated image it reads per evaluation; a run whose content and style losses both read
    hypercolumns draws the larger count for both); it may declare ``target_samples`` (positions of
    the reference its ``target`` reads, drawn once per scale; None or absent: none are drawn)
    and ``resample_every`` (draw new positions every this many evaluations; 1 if absent). It
    then receives every layer of its slot at once: ``features`` is a mapping ``{layer: (1, C,
    h, w) map}`` in the run's layer order, the pseudo-layer :data:`~siayn_core.PIXELS` being
    the image itself, and the engine calls ``target(features, positions=..., image=...)`` once
    per scale and ``loss(features, target, positions=..., image=...)`` once per style (and once
    for the content) per evaluation, with ``positions`` a
    :class:`~siayn_core.SamplePositions` and ``image`` the ``(1, 3, H, W)`` picture the
    features come from. Positions are drawn with the run's seed; in one evaluation the content
    loss and every style without a mask get the same ones, and a style with a region
    (``style_masks``, ``content_mask``) gets positions inside it, so such a loss needs no
    ``guided``. Read them with :func:`~siayn_core.read_hypercolumns`. Its value is weighted once:
    by ``content_weight``, or by the style's coefficients summed over the layers it reads (times
    the share of the image the style's region covers). Tiles cannot cut such a loss, so a run
    that would tile is refused.

    A hypercolumn loss whose target depends on where the optimization stands (NNST's: the
    current output's hypercolumns replaced by their nearest style hypercolumns) declares
    ``stage_targets = True``. The engine then never calls its ``target``: at the start of each
    stage of a multi-scale run, before the first step, it calls ``stage_target(context)`` with
    a :class:`~siayn_core.StageContext` (the stage's start image, the photo, the style images
    at the stage's size, the style the target is for and its guide, the slot's layers, the
    stage's number, count and steps, the run's seed, and ``features(image)``, the slot's layers
    of any picture), once per style (once for a content loss), and hands what it returns to
    every evaluation of that stage as ``target``, weighted as above. Nothing caches it. With
    ``samples`` declared it gets the engine's positions at each evaluation (inside the style's
    region with masks); without, ``positions=None``, and it reads its target's own positions,
    which it keeps inside the context's ``guide``.

    A loss may report terms of its own by returning a mapping ``{name: scalar tensor}`` instead
    of one tensor. Every part is multiplied by its slot's weight (``content_weight``, the style
    coefficients, ``tv_weight``, ``temporal_weight``), parts of one name add up over layers,
    styles and tiles, and each name gets its own entry in every step's record (``run.json``,
    :attr:`~siayn_core.engine.outcomes.Iterate.losses`, the progress bar); the run minimizes
    their sum. A part named after the slot (``content``, ``style``, ``tv`` or ``temporal``) is
    that built-in term; the other built-in names, ``step`` and ``total`` raise
    :class:`~siayn_core.SiaynError`.
    """

    def target(self, features: torch.Tensor) -> torch.Tensor:
        """The representation of reference features (e.g. their Gram matrix).

        Called once per scale, under ``torch.no_grad()`` (a guided loss: ``target(features, guide=...)``).
        """
        ...

    def __call__(
        self, features: torch.Tensor, target: torch.Tensor | None
    ) -> torch.Tensor | Mapping[str, torch.Tensor]:
        """The scalar loss of ``features`` against ``target``, or its named parts (a guided
        loss also takes ``guide=``)."""
        ...


@runtime_checkable
class TileableLoss(Loss, Protocol):
    """A loss of the form ``compare(target(features), target)`` whose representation adds up
    over feature positions: a tiled run then has exactly the whole image's value and gradient.

    ``target`` must stay differentiable (it is also called with gradients, on each tile).
    """

    #: How ``target`` of positions put side by side relates to its parts: ``"sum"`` (a plain
    #: sum, as of an unnormalized Gram matrix) or ``"mean"`` (weighted by the parts' numbers of
    #: positions, as of a normalized one; with a guide, by the parts' guide weights).
    combines: str

    def compare(
        self, representation: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor | Mapping[str, torch.Tensor]:
        """The loss of a representation against the target: ``loss(F, T) == compare(target(F), T)``
        (named parts alike, when the loss returns a mapping)."""
        ...


@runtime_checkable
class Masker(Protocol):
    """Finds the foreground of a photo, for ``style_masks: auto``."""

    def __call__(self, image: Image.Image) -> Image.Image:
        """A mask of ``image`` (mode ``L``, its size): white on the foreground, black elsewhere."""
        ...


@runtime_checkable
class Initialiser(Protocol):
    """Builds the image the optimization starts from."""

    def __call__(
        self,
        content: torch.Tensor,
        styles: Sequence[torch.Tensor],
        generator: torch.Generator,
    ) -> torch.Tensor:
        """Return a starting image shaped like ``content`` (already at the output size).

        :param styles: the style images, each at its own size.
        :param generator: the run's seeded random generator; use it for any randomness.
        """
        ...


@runtime_checkable
class ParametrizedImage(Protocol):
    """The generated image as the optimizer moves it: the tensors it optimizes, and the image
    they render, on which the objective is evaluated.

    :meth:`Parametrization.encode` makes one for each stage of a run; the engine hands
    :meth:`parameters` to the optimizer and evaluates the objective, the callbacks, the iterate
    average and the saved frames on :meth:`render`.
    """

    def parameters(self) -> Sequence[torch.Tensor]:
        """The tensors the optimizer moves: leaves that require gradients, the same objects at every call."""
        ...

    def render(self) -> torch.Tensor:
        """The image ``(1, 3, H, W)`` the parameters stand for, differentiable with respect to them."""
        ...

    def project(self, low: float, high: float) -> bool:
        """Move the parameters so that the rendered image lies in ``[low, high]``.

        With ``keep_in_range`` the engine calls it once before the first step; where it returns
        True, it calls it again after every step, and never gives the optimizer a box (which
        would bound the parameters, not the image).

        :returns: False where the parameters are the image's pixels themselves (``pixels``),
            having changed nothing: the engine then keeps them in the box as it does for any
            image, by the optimizer's projected steps (:class:`ProjectingOptimizer`) or its own.
        """
        ...


@runtime_checkable
class Parametrization(Protocol):
    """How the generated image is represented for the optimizer: by its pixels (``pixels``, the
    default), the bands of a Laplacian pyramid (``laplacian``), or anything that renders an image."""

    def encode(self, image: torch.Tensor) -> ParametrizedImage:
        """New parameters whose :meth:`~ParametrizedImage.render` is ``image`` (to float rounding),
        at its size; ``image`` itself is left unchanged. Each stage of a multi-scale run encodes
        its start image afresh."""
        ...


@runtime_checkable
class OptimizerFactory(Protocol):
    """Builds a ``torch.optim.Optimizer`` over the generated image's parameters (its pixels,
    or the tensors of another :class:`Parametrization`).

    Two capabilities are optional; the engine asks for them (``isinstance`` with these
    runtime-checkable protocols) and never reaches into an optimizer's state:

    - projected steps: an optimizer that is a :class:`ProjectingOptimizer` keeps the image in
      ``[0, 1]`` itself when ``keep_in_range`` is on. Any other optimizer still runs: the
      engine then zeroes the gradient components that push a pixel on a bound outwards and
      clamps the image after each step, which needs nothing of the optimizer, though a
      quasi-Newton method then learns its curvature from steps it did not quite take. Only
      the pixels are put in a box: a :class:`ParametrizedImage` whose ``project`` keeps its
      rendered image in range is asked instead, and the optimizer gets no box.
    - a stage carry: a factory that is a :class:`CarryingOptimizerFactory` builds each stage
      of a multi-scale run but the first from the previous stage's optimizer. Any other
      factory builds every stage's optimizer afresh.
    """

    def __call__(self, params: Sequence[torch.Tensor]) -> torch.optim.Optimizer:
        """The optimizer; each ``step(closure)`` must evaluate ``closure`` exactly once,
        so that ``num_steps`` counts objective evaluations for every optimizer."""
        ...


@runtime_checkable
class ProjectingOptimizer(Protocol):
    """An optimizer that can keep its parameters inside a box ``[low, high]`` itself.

    A projected step uses the projected gradient (components that would push a parameter on a
    bound further out count as zero) and ends with every parameter inside the box; an optimizer
    that models curvature learns it from the step actually taken.
    """

    def keep_in_box(self, low: float, high: float) -> bool:
        """Make every later step a projected one, and move the parameters into the box now.

        The engine calls it once, before the first step, with ``low=0`` and ``high=1``.

        :returns: False where this optimizer cannot (say, a wrapper whose inner optimizer does
            not project); it has then changed nothing, and the engine projects the gradient and
            clamps the image itself.
        """
        ...


@runtime_checkable
class CarryingOptimizerFactory(OptimizerFactory, Protocol):
    """An :class:`OptimizerFactory` that hands what one stage's optimizer learnt to the next's.

    In a multi-scale run each stage optimizes an upsampled image with more pixels. State tied
    to pixels (L-BFGS's curvature pairs, Adam's moments) has the wrong size there and describes
    the previous stage's objective, so it should not carry; a scale (such as L-BFGS's initial
    inverse-Hessian scale) can, adjusted for the pixel count: the losses are means over
    positions, so each pixel's share of the gradient shrinks as the image grows.
    """

    def next_stage(self, previous: torch.optim.Optimizer, params: Sequence[torch.Tensor]) -> torch.optim.Optimizer:
        """The optimizer of the next stage's ``params``, started from what ``previous`` learnt.

        :param previous: the optimizer this factory built for the previous stage, after its
            last step; one of another type, or that learnt nothing useful, may be ignored.
        :returns: an optimizer that meets :meth:`OptimizerFactory.__call__`'s contract.
        """
        ...


@dataclass(frozen=True)
class PostprocessContext:
    """What a postprocessor may need besides the image it transforms.

    :param content: the content image the result was made from, if known.
    :param styles: the style images, if known.
    :param run_dir: the folder of the run (holds ``run.json`` and ``frames/``), if any.
    :param output_dir: where a postprocessor writes any extra files it makes.
    :param search_dirs: folders where file names given in options (a mask, a target image)
        are looked up when they are not found relative to the working directory; see :meth:`find`.
    :param files: the extra files postprocessors wrote (e.g. a GIF); each appends its own.
    :param frame_rate: the frame rate of the clip whose frames ``run_dir`` holds, if any.
    """

    content: Path | None = None
    styles: tuple[Path, ...] = ()
    run_dir: Path | None = None
    output_dir: Path | None = None
    search_dirs: tuple[Path, ...] = ()
    files: list[Path] = field(default_factory=list)
    frame_rate: float | None = None

    def find(self, name: str | Path, *, what: str) -> Path:
        """The file an option names: as given (absolute, or relative to the working
        directory), else inside each of :attr:`search_dirs`; SiaynError naming ``what`` if absent."""
        from .paths import resolve_file

        return resolve_file(name, self.search_dirs, what=what)


@runtime_checkable
class Postprocessor(Protocol):
    """Transforms a finished image (an RGB ``PIL.Image.Image``).

    A postprocessor whose product is a file rather than an image (e.g. ``gif``) writes it
    into ``context.output_dir``, appends its path to ``context.files`` and returns ``image``
    itself, unchanged; :func:`siayn_core.postprocess.chain.apply_postprocessors` then records no
    image for that step.
    """

    def __call__(self, image: Image.Image, context: PostprocessContext) -> Image.Image:
        """Return the processed image; ``image`` itself is left unchanged."""
        ...


@dataclass(frozen=True)
class PostprocessJob:
    """One input of a ``siayn postprocess`` run and the steps applied to it.

    :param input: an image, or a folder of frames (the steps then get its last frame).
    :param steps: postprocessor names or ``{"name": ..., **options}`` mappings, applied in order.
    :param context: what the steps may need; its ``output_dir`` is where extra files go.
    :param output_dir: the folder for the results (``None``: next to ``input``).
    """

    input: Path
    steps: tuple[str | Mapping[str, Any], ...]
    context: PostprocessContext = field(default_factory=PostprocessContext)
    output_dir: Path | None = None


@dataclass(frozen=True)
class PostprocessRequest:
    """One run of a ``siayn postprocess`` config, as a :class:`PostprocessFormat` sees it.

    :param where: names the run in messages, e.g. ``run 'test1' in cfg.yaml``.
    :param search_dirs: folders where file names in the config are looked up.
    :param output_dir: the run's ``output`` folder (``None``: results go next to each input).
    """

    where: str
    search_dirs: tuple[Path, ...] = ()
    output_dir: Path | None = None

    def require(self, key: str, value: str | None, *, what: str) -> Path:
        """The file the config's ``key`` names, resolved as :meth:`PostprocessContext.find` does;
        SiaynError naming the key and run if it is empty or absent."""
        from .paths import resolve_file
        from .errors import SiaynError

        if not value:
            raise SiaynError(f"{self.where}: {key!r} is required ({what})")
        return resolve_file(value, self.search_dirs, what=f"{what} ({key!r} of {self.where})").resolve()

    def optional(self, key: str, value: str | None, *, what: str) -> Path | None:
        """Like :meth:`require`, but ``None`` when the key is empty."""
        return self.require(key, value, what=what) if value else None

    def job(
        self,
        input: Path,
        steps: Sequence[str | Mapping[str, Any]],
        *,
        content: Path | None = None,
        styles: tuple[Path, ...] = (),
    ) -> PostprocessJob:
        """A job whose results (and extra files, such as a GIF) go to the run's ``output``
        folder, or next to ``input`` (into it, for a folder)."""
        output_dir = self.output_dir or (input if input.is_dir() else input.parent)
        context = PostprocessContext(content=content, styles=styles, output_dir=output_dir,
                                     search_dirs=self.search_dirs)
        return PostprocessJob(input, tuple(steps), context, self.output_dir)


@runtime_checkable
class PostprocessFormat(Protocol):
    """The keys a plugin adds to ``siayn postprocess`` configs, turned into jobs.

    The factory's options dataclass declares the keys; it is built from each run's values
    for them (keys the core also reads, such as ``content``, reach both).
    """

    def __call__(self, request: PostprocessRequest) -> Sequence[PostprocessJob]:
        """The jobs this run asks for through the format's keys; none if it asks for nothing."""
        ...

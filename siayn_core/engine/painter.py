"""Build once, paint many: a :class:`Painter` holds the components of runs that share their
component settings and the style targets it has computed per stage size.

A clip's frames, the GUI's reruns with the same styles and a batch worker's runs each ask a
:class:`Painters` for the painter that serves their options: the backbone's weights are loaded
once, and a style's targets at a stage size are computed once, whatever the photo.
:meth:`Painter.paint` is one run: :meth:`~Painter.prepare` it, :meth:`~Painter.run_stage` each
multi-scale stage, :meth:`~Painter.finish` with the result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from ..config.components import component_options
from ..config.schema import COMPONENT_KEYS, StylizeOptions
from ..io.images import output_size, resize, to_tensor
from ..plugin.errors import SiaynError
from .acceleration import backbone_precision
from .colour_control import ColourControl
from .devices import resolve_device
from .guides import Regions, regions_for
from .objective import Objective, build_components, check_untiled
from .outcomes import Callback, DivergedError, StylizeResult, divergence_message
from .loop import optimize_at_size
from .schedule import Stage, StageOptimizers, plan_stages, stage_images, upsample, upsample_detail

if TYPE_CHECKING:
    from PIL import Image

    from ..host.registry import Registry
    from .temporal import TemporalTerm

#: Components that draw random numbers (a randomly initialised backbone) are built with this
#: seed, so that one built painter serves runs of any seed and repeats a fresh one exactly.
COMPONENT_SEED = 0

#: The options besides the components' own that change what is built.
BUILD_KEYS = ("content_layers", "style_layers", "channels_last", "precision", "compile")


def component_key(options: StylizeOptions, registry: Registry, device: torch.device) -> str:
    """What a painter built for ``options`` depends on: equal keys share one painter."""
    named = {key: [getattr(options, key), component_options(options, key, registry)] for key in COMPONENT_KEYS}
    built = {key: getattr(options, key) for key in BUILD_KEYS}
    return json.dumps([named, built, str(device)], sort_keys=True, default=repr)


@dataclass
class Canvas:
    """One run in progress on a painter: what :meth:`Painter.prepare` worked out, and the
    image and losses so far."""

    options: StylizeOptions
    content: Image.Image
    styles: list[Image.Image]
    size: tuple[int, int]
    stages: list[Stage]
    objective: Objective
    regions: Regions
    control: ColourControl
    generator: torch.Generator
    seed: int
    started: float
    n_styles: int
    make_optimizer: Callable[[Sequence[torch.Tensor]], torch.optim.Optimizer]
    callback: Callback | None = None
    start: Image.Image | None = None
    temporal: TemporalTerm | None = None
    image: torch.Tensor | None = None
    previous_content: torch.Tensor | None = None
    losses: list[dict[str, float]] = field(default_factory=list)
    stopped: bool = False


class Painter:
    """A run's built components (backbone extractor, losses, initialiser, optimizer factory,
    parametrization) on one device, and the style targets computed with them, reused run after run.

    :param options: the run's options: a painter serves every run whose
        :func:`component_key` is the same (other settings may differ).
    :param registry: where the components are looked up.
    :param device: ``auto`` (cuda, then mps, then cpu), ``cpu``, ``cuda`` or ``mps``.
    """

    def __init__(self, options: StylizeOptions, registry: Registry, device: str | torch.device = "auto") -> None:
        self.registry = registry
        self.device = resolve_device(device) if isinstance(device, str) else device
        self.key = component_key(options, registry, self.device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(COMPONENT_SEED)
            self.components, self.record = build_components(options, registry, self.device)
        #: What the backbone runs in (``float32``, ``bfloat16`` or ``float16``), resolved from
        #: the ``precision`` option for this device.
        self.precision = backbone_precision(self.components["backbone"])
        self._style_targets: dict[tuple[str, tuple[int, ...], tuple[str, ...]], Any] = {}
        self._lock = threading.Lock()

    def serves(self, options: StylizeOptions) -> bool:
        """Whether this painter's components are the ones ``options`` name."""
        return component_key(options, self.registry, self.device) == self.key

    def style_targets(self, style: torch.Tensor, layers: Sequence[str], compute: Callable[[], Any]) -> Any:
        """The targets of ``style`` (a stage's style image) at ``layers``, computed by
        ``compute`` the first time this picture is seen at this size with these ``layers``
        (which may name more than layers: see :data:`~siayn_core.engine.objective.StyleTargets`)."""
        digest = hashlib.blake2b(style.detach().cpu().numpy().tobytes(), digest_size=16).hexdigest()
        key = (digest, tuple(style.shape), tuple(layers))
        with self._lock:
            targets = self._style_targets.get(key)
        if targets is None:
            targets = compute()
            with self._lock:
                targets = self._style_targets.setdefault(key, targets)
        return targets

    def paint(
        self,
        content: Image.Image,
        styles: Sequence[Image.Image],
        options: StylizeOptions,
        *,
        seed: int | None = None,
        callback: Callback | None = None,
        start: Image.Image | None = None,
        steps_done: int = 0,
        masks: Sequence[Image.Image] = (),
        content_mask: Image.Image | None = None,
        fine_style: Image.Image | None = None,
        temporal: TemporalTerm | None = None,
    ) -> StylizeResult:
        """Paint ``content`` in the style of ``styles``: the arguments of
        :func:`stylize`, with this painter's components."""
        canvas = self.prepare(content, styles, options, seed=seed, callback=callback, start=start, masks=masks,
                              content_mask=content_mask, fine_style=fine_style, temporal=temporal)
        for stage in canvas.stages:
            if steps_done and stage.last_step <= steps_done:
                continue  # resuming: this stage was finished before
            if steps_done and stage.first_step <= steps_done:
                stage = dataclasses.replace(stage, steps=stage.last_step - steps_done, first_step=steps_done + 1)
            self.run_stage(canvas, stage)
            if canvas.stopped:
                break
        return self.finish(canvas)

    def prepare(
        self,
        content: Image.Image,
        styles: Sequence[Image.Image],
        options: StylizeOptions,
        *,
        seed: int | None = None,
        callback: Callback | None = None,
        start: Image.Image | None = None,
        masks: Sequence[Image.Image] = (),
        content_mask: Image.Image | None = None,
        fine_style: Image.Image | None = None,
        temporal: TemporalTerm | None = None,
    ) -> Canvas:
        """Check a run against this painter and work out its size, stages, guides and colour control."""
        started = time.perf_counter()
        if not styles:
            raise SiaynError("stylize needs at least one style image")
        if bool(options.fine_style) != (fine_style is not None):
            raise SiaynError("fine_style names an image: pass it to stylize as fine_style (and only then)")
        if not self.serves(options):
            raise SiaynError("this painter was built for other components: ask Painters.for_options for one")
        seed = options.seed if seed is None else seed
        if seed is None:
            seed = secrets.randbits(31)
        size = output_size(content.size, longer_side=options.size, scale=options.scaler)
        stages = stages_for(options, size)  # coarse to fine; step numbers run on across the stages
        check_untiled(options, self.components, [stage.size for stage in stages if stage.steps])
        n_styles = len(styles)
        regions = regions_for(options, content, n_styles, masks, content_mask, registry=self.registry)
        control = ColourControl(options.color_control, content)
        content, prepared_styles = control.prepare([*styles, *([fine_style] if fine_style is not None else [])])
        if control.recolours and callback is not None:
            callback = recoloured(callback, control)
        return Canvas(
            options=options,
            content=content,
            styles=prepared_styles,
            size=size,
            stages=stages,
            objective=Objective(options, self.components, n_styles, style_targets=self.style_targets, seed=seed),
            regions=regions,
            control=control,
            generator=torch.Generator().manual_seed(seed),
            seed=seed,
            started=started,
            n_styles=n_styles,
            make_optimizer=StageOptimizers(self.components["opt"]),
            callback=callback,
            start=start,
            temporal=temporal,
        )

    def run_stage(self, canvas: Canvas, stage: Stage) -> None:
        """Optimize ``canvas`` at one stage's size (or only carry it up, for a stage without steps)."""
        options, device = canvas.options, self.device
        styles_needed = canvas.styles if stage.steps or canvas.image is None else []
        stage_content, stage_styles = stage_images(
            canvas.content, styles_needed, stage.size, canvas.size, options.style_resize, options.style_scale,
            options.style_reference,
        )
        content_tensor = to_tensor(stage_content).to(device)
        style_tensors = [to_tensor(style).to(device) for style in stage_styles]
        first = self._first_image(canvas, stage, content_tensor, style_tensors)
        canvas.previous_content = content_tensor
        if not stage.steps:
            canvas.image = first.to(device)
            return
        try:
            canvas.image, records, canvas.stopped = optimize_at_size(
                first.to(device),
                content_tensor,
                style_tensors,
                with_temporal(stage_objective(canvas.objective, stage, options, canvas.generator), canvas.temporal,
                              stage.size, device),
                canvas.make_optimizer,
                guides=stage_guides(canvas.regions, stage.size, canvas.n_styles, options, device),
                num_steps=stage.steps,
                callback=canvas.callback,
                started=canvas.started,
                first_step=stage.first_step,
                total_steps=canvas.stages[-1].last_step,
                keep_in_range=options.keep_in_range,
                average=options.average,
                parametrization=self.components["parametrization"],
                stage=optimized_stage(canvas.stages, stage),
            )
        except DivergedError as error:
            # Keep the last image whose loss was finite: this stage's, else the previous stage's.
            last = canvas.image if error.result is None else error.result.image
            canvas.losses.extend(error.result.losses if error.result else [])
            raise DivergedError(
                divergence_message(error.loss, error.step, options),
                None if last is None else self._result(canvas, last, True),
                loss=error.loss,
                step=error.step,
            ) from None
        canvas.losses.extend(records)

    def _first_image(
        self, canvas: Canvas, stage: Stage, content: torch.Tensor, styles: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        """Where a stage starts: the saved image (resuming), the initialiser's image (the first
        stage), or the previous stage's result brought up to this size."""
        if canvas.image is None and canvas.start is not None:
            return to_tensor(resize(canvas.control.start_image(canvas.start.convert("RGB")), stage.size))
        if canvas.image is None:
            first = self.components["init_method"](content, styles, canvas.generator)
            if tuple(first.shape) != tuple(content.shape):
                raise SiaynError(
                    f"initialiser {canvas.options.init_method!r} returned an image shaped {tuple(first.shape)}, "
                    f"expected {tuple(content.shape)}"
                )
            return first
        if canvas.options.stage_start == "content-detail" and canvas.previous_content is not None:
            return upsample_detail(canvas.image, canvas.previous_content, content)
        return upsample(canvas.image, stage.size)

    def finish(self, canvas: Canvas) -> StylizeResult:
        """The result of ``canvas``: its image at the output size with any colour control applied."""
        image = canvas.image
        if image is None:  # nothing left to do (resuming a finished schedule)
            if canvas.start is None:
                raise SiaynError("the run has no stage with steps and no image to start from")
            image = to_tensor(resize(canvas.control.start_image(canvas.start.convert("RGB")), canvas.size))
        return self._result(canvas, image, canvas.stopped)

    def _result(self, canvas: Canvas, final: torch.Tensor, stopped: bool) -> StylizeResult:
        return StylizeResult(
            image=canvas.control.finish(upsample(final, canvas.size).clamp(0.0, 1.0).cpu()),
            losses=canvas.losses,
            steps=len(canvas.losses),
            seconds=time.perf_counter() - canvas.started,
            device=str(self.device),
            stopped=stopped,
            seed=canvas.seed,
            components=self.record,
            precision=self.precision,
        )


def stylize(
    content: Image.Image,
    styles: Sequence[Image.Image],
    options: StylizeOptions,
    *,
    registry: Registry,
    device: str = "auto",
    seed: int | None = None,
    callback: Callback | None = None,
    start: Image.Image | None = None,
    steps_done: int = 0,
    masks: Sequence[Image.Image] = (),
    content_mask: Image.Image | None = None,
    fine_style: Image.Image | None = None,
    temporal: TemporalTerm | None = None,
    painter: Painter | None = None,
) -> StylizeResult:
    """Paint ``content`` in the style of ``styles``.

    :param content: the photo; the output's longer side is ``options.size`` px, or without
        it the photo's size times ``options.scaler``.
    :param styles: one or more style images (blended with ``options.style_weight``).
    :param registry: where the components named in ``options`` are looked up.
    :param device: ``auto`` (cuda, then mps, then cpu), ``cpu``, ``cuda`` or ``mps``.
    :param seed: overrides ``options.seed``; with neither, a random seed is drawn (and returned).
    :param callback: called after every step with an :class:`Iterate`; returning True stops
        the run and keeps the current image.
    :param start: resume from this image (a saved result) instead of the initialiser's.
    :param steps_done: with ``start``, the steps already taken: the run goes on from step
        ``steps_done + 1`` at the stage of the schedule that step belongs to.
    :param masks: the images ``options.style_masks`` names (one per style, or a colour key).
    :param content_mask: the image ``options.content_mask`` names: white where the photo is kept.
    :param fine_style: the image ``options.fine_style`` names, for the fine style layers.
    :param temporal: a clip's frame: the previous stylized frame warped onto this one, which
        the result is held to where the flow holds (:mod:`siayn_core.engine.temporal`).
    :param painter: built components to reuse (:class:`Painters`); by default they are built
        for this run.
    :raises DivergedError: when the loss stops being finite, with the last finite state.
    """
    painter = Painter(options, registry, device) if painter is None else painter
    return painter.paint(content, styles, options, seed=seed, callback=callback, start=start,
                         steps_done=steps_done, masks=masks, content_mask=content_mask, fine_style=fine_style,
                         temporal=temporal)


class Painters:
    """The painters of one process or session, built on first use and kept: a small cache,
    safe to share between threads, that drops the least recently used painter past ``keep``.

    :param registry: where components are looked up.
    :param device: the device every painter runs on.
    """

    def __init__(self, registry: Registry, device: str = "auto", *, keep: int = 2) -> None:
        self.registry = registry
        self.device = resolve_device(device)
        self.keep = keep
        self._painters: OrderedDict[str, Painter] = OrderedDict()
        self._lock = threading.Lock()

    def for_options(self, options: StylizeOptions) -> Painter:
        """The painter for ``options``' components: a kept one, or a new one."""
        key = component_key(options, self.registry, self.device)
        with self._lock:
            painter = self._painters.get(key)
            if painter is not None:
                self._painters.move_to_end(key)
                return painter
        painter = Painter(options, self.registry, self.device)
        with self._lock:
            self._painters[key] = painter
            while len(self._painters) > self.keep:
                self._painters.popitem(last=False)
        return painter

    def paint(self, content: Image.Image, styles: Sequence[Image.Image], options: StylizeOptions,
              **arguments: Any) -> StylizeResult:
        """:meth:`Painter.paint` with the painter for ``options``."""
        return self.for_options(options).paint(content, styles, options, **arguments)


def with_temporal(
    objective: Objective, temporal: TemporalTerm | None, size: tuple[int, int], device: torch.device
) -> Objective:
    """``objective``, plus a clip frame's temporal term at a stage's ``size``."""
    if temporal is None:
        return objective
    from .temporal import TemporalObjective

    return TemporalObjective(objective, temporal, size, device)  # type: ignore[return-value]


def stage_guides(
    regions: Regions, size: tuple[int, int], n_styles: int, options: StylizeOptions, device: torch.device
) -> list[torch.Tensor | None] | None:
    """Each style's guide at a stage's ``size`` (None without masks); a fine style paints
    wherever the other styles do."""
    if not regions.active:
        return None
    guides = regions.guides(size, n_styles)
    if options.fine_style:
        covered = None if any(guide is None for guide in guides) else torch.stack(guides).sum(0).clamp(max=1.0)
        guides.append(covered)
    return [None if guide is None else guide.to(device) for guide in guides]


def recoloured(callback: Callback, control: ColourControl) -> Callback:
    """``callback`` shown the image a user gets (the photo's chroma put back) each step."""
    return lambda iterate: callback(dataclasses.replace(iterate, image=control.finish(iterate.image)))


def optimized_stage(stages: Sequence[Stage], stage: Stage) -> tuple[int, int]:
    """``(index, count)`` of ``stage`` among the ``stages`` that take steps."""
    optimized = [each.index for each in stages if each.steps]
    return (optimized.index(stage.index) if stage.index in optimized else len(optimized) - 1, len(optimized))


def stages_for(options: StylizeOptions, size: tuple[int, int]) -> list[Stage]:
    """The multi-scale stages of a run of ``options`` whose output is ``size`` (``(width, height)``)."""
    return plan_stages(
        size,
        options.num_steps,
        min_size=options.min_size,
        scale_factor=options.scale_factor,
        step_decay=options.step_decay,
        final_share=options.final_share,
        stage_steps=options.stage_steps,
        style_reference=options.style_reference,
    )


def stage_objective(
    objective: Objective, stage: Stage, options: StylizeOptions, generator: torch.Generator
) -> Objective:
    """``objective``, or for a stage larger than ``tile_size`` its tiled evaluation
    (:mod:`siayn_core.engine.tiling`), which computes the same objective in less memory."""
    if options.tile_size is None or max(stage.size) <= options.tile_size:
        return objective
    from .tiling import TiledObjective

    return TiledObjective(  # type: ignore[return-value]
        objective, tile_size=options.tile_size, margin=options.tile_overlap, generator=generator
    )

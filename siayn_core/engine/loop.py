"""The optimization loop: style transfer by image optimization (Gatys et al. 2016).

:func:`stylize` turns PIL images and :class:`~siayn_core.config.schema.StylizeOptions` into a
stylized image and its losses, coarse to fine (:mod:`siayn_core.engine.schedule`), in tiles when
the image is large (:mod:`siayn_core.engine.tiling`). It writes no files: :mod:`siayn_core.runs.folder`
does, and :func:`siayn_core.stylize` is the one-line call for scripts.

Every component (backbone, losses, initialiser, optimizer) comes from the registry, so this
module knows nothing about VGG, Gram matrices or L-BFGS.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch

from .bounds import BoxProjection
from .colour_control import ColourControl
from ..config.schema import StylizeOptions
from .devices import resolve_device
from ..plugin.errors import SiaynError
from .guides import Regions, regions_for
from ..io.images import output_size, resize, to_tensor
from .objective import Objective, build_components
from .outcomes import Callback, DivergedError, Iterate, StylizeResult, divergence_message
from .schedule import CarryStepScale, Stage, plan_stages, stage_images, upsample, upsample_detail
from .terms import record_of, stacked, total_loss

if TYPE_CHECKING:
    from PIL import Image

    from ..host.registry import Registry
    from .temporal import TemporalTerm


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
    :raises DivergedError: when the loss stops being finite, with the last finite state.
    """
    started = time.perf_counter()
    if not styles:
        raise SiaynError("stylize needs at least one style image")
    if bool(options.fine_style) != (fine_style is not None):
        raise SiaynError("fine_style names an image: pass it to stylize as fine_style (and only then)")
    torch_device = resolve_device(device)
    seed = options.seed if seed is None else seed
    if seed is None:
        seed = secrets.randbits(31)
    generator = torch.Generator().manual_seed(seed)

    with torch.random.fork_rng(devices=[]):
        # Components that draw random numbers (a randomly initialised backbone) repeat
        # with the seed too, without disturbing the caller's global generator.
        torch.manual_seed(seed)
        components, record = build_components(options, registry, torch_device)
    size = output_size(content.size, longer_side=options.size, scale=options.scaler)
    n_styles = len(styles)
    regions = regions_for(options, content, n_styles, masks, content_mask, registry=registry)
    control = ColourControl(options.color_control, content)
    content, styles = control.prepare([*styles, *([fine_style] if fine_style is not None else [])])
    if control.recolours and callback is not None:
        callback = _recoloured(callback, control)
    # Coarse to fine (see siayn_core.engine.schedule): step numbers run on across the stages.
    stages = stages_for(options, size)
    objective = Objective(options, components, n_styles)
    make_optimizer = CarryStepScale(components["opt"])
    image: torch.Tensor | None = None
    previous_content: torch.Tensor | None = None
    losses: list[dict[str, float]] = []
    stopped = False

    def result_of(final: torch.Tensor, done: bool) -> StylizeResult:
        return StylizeResult(
            image=control.finish(upsample(final, size).clamp(0.0, 1.0).cpu()),  # a coarse stage's at the output size
            losses=losses,
            steps=len(losses),
            seconds=time.perf_counter() - started,
            device=str(torch_device),
            stopped=done,
            seed=seed,
            components=record,
        )

    for stage in stages:
        if steps_done and stage.last_step <= steps_done:
            continue  # resuming: this stage was finished before
        if steps_done and stage.first_step <= steps_done:
            stage = dataclasses.replace(stage, steps=stage.last_step - steps_done, first_step=steps_done + 1)
        styles_needed = styles if stage.steps or image is None else []
        stage_content, stage_styles = stage_images(
            content, styles_needed, stage.size, size, options.style_resize, options.style_scale,
            options.style_reference,
        )
        content_tensor = to_tensor(stage_content).to(torch_device)
        style_tensors = [to_tensor(style).to(torch_device) for style in stage_styles]
        if image is None and start is not None:
            first = to_tensor(resize(control.start_image(start.convert("RGB")), stage.size))
        elif image is None:
            first = components["init_method"](content_tensor, style_tensors, generator)
            if tuple(first.shape) != tuple(content_tensor.shape):
                raise SiaynError(
                    f"initialiser {options.init_method!r} returned an image shaped {tuple(first.shape)}, "
                    f"expected {tuple(content_tensor.shape)}"
                )
        elif options.stage_start == "content-detail" and previous_content is not None:
            first = upsample_detail(image, previous_content, content_tensor)
        else:
            first = upsample(image, stage.size)
        previous_content = content_tensor
        if not stage.steps:  # a stage that only carries the image up to its size
            image = first.to(torch_device)
            continue
        try:
            image, records, stopped = optimize_at_size(
                first.to(torch_device),
                content_tensor,
                style_tensors,
                with_temporal(stage_objective(objective, stage, options, generator), temporal, stage.size,
                              torch_device),
                make_optimizer,
                guides=stage_guides(regions, stage.size, n_styles, options, torch_device),
                num_steps=stage.steps,
                callback=callback,
                started=started,
                first_step=stage.first_step,
                total_steps=stages[-1].last_step,
                keep_in_range=options.keep_in_range,
                average=options.average,
            )
        except DivergedError as error:
            # Keep the last image whose loss was finite: this stage's, else the previous stage's.
            last = image if error.result is None else error.result.image
            losses.extend(error.result.losses if error.result else [])
            raise DivergedError(
                divergence_message(error.loss, error.step, options),
                None if last is None else result_of(last, True),
                loss=error.loss,
                step=error.step,
            ) from None
        losses.extend(records)
        if stopped:
            break
    if image is None:  # nothing left to do (resuming a finished schedule)
        image = to_tensor(resize(control.start_image(start.convert("RGB")), size)) if start is not None else None
    assert image is not None
    return result_of(image, stopped)


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


def _recoloured(callback: Callback, control: ColourControl) -> Callback:
    """``callback`` shown the image a user gets (the photo's chroma put back) each step."""
    return lambda iterate: callback(dataclasses.replace(iterate, image=control.finish(iterate.image)))


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


def optimize_at_size(
    start: torch.Tensor,
    content: torch.Tensor,
    styles: Sequence[torch.Tensor],
    objective: Objective,
    make_optimizer: Callable[[Sequence[torch.Tensor]], torch.optim.Optimizer],
    *,
    num_steps: int,
    callback: Callback | None = None,
    started: float | None = None,
    first_step: int = 1,
    total_steps: int | None = None,
    keep_in_range: bool = False,
    average: float = 0.0,
    guides: Sequence[torch.Tensor | None] | None = None,
) -> tuple[torch.Tensor, list[dict[str, float]], bool]:
    """Optimize ``start`` for ``num_steps`` steps at its own size.

    ``content`` and ``styles`` set the objective's targets (at the sizes given). A
    multi-scale schedule calls this once per size with the upsampled previous result as
    ``start``, numbering steps from ``first_step`` out of ``total_steps``.

    :param average: the decay of an exponential moving average of the iterates; when set,
        the average is what callbacks see and what is returned.
    :param guides: one per style, where it applies (see :meth:`Objective.set_targets`).
    :returns: the optimized (unclamped) image, the per-step loss records, and whether a
        callback stopped the run.
    """
    started = time.perf_counter() if started is None else started
    total_steps = num_steps if total_steps is None else total_steps
    objective.set_targets(content, styles, guides)
    image = start.detach().clone().requires_grad_(True)
    optimizer = make_optimizer([image])
    evaluated: list[tuple[list[str], torch.Tensor]] = []  # each evaluation's term names and stacked values
    # Two image buffers, swapped after every finite step, so that the last image whose loss was
    # finite is kept for a diverging run without allocating a copy per step.
    last_finite = start.detach().clone()
    being_evaluated = torch.empty_like(last_finite)
    box = BoxProjection(image) if keep_in_range else None
    if box is not None:
        box.clamp()
    averaged = IterateAverage(average, image.detach()) if average else None

    def closure() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        terms = objective(image)
        total = total_loss(terms)
        total.backward()
        if box is not None:
            box.project_gradient()
        evaluated.append((list(terms), stacked(total, terms)))
        being_evaluated.copy_(image.detach())
        return total

    records: list[dict[str, float]] = []
    for step in range(first_step, first_step + num_steps):
        evaluated.clear()
        optimizer.step(closure)
        if box is not None:
            box.after_step(optimizer, being_evaluated)
        if len(evaluated) != 1:
            raise RuntimeError(
                f"optimizer {type(optimizer).__name__} evaluated the objective {len(evaluated)} times "
                "in one step; num_steps must count evaluations"
            )
        losses = record_of(*evaluated[0])
        total = losses["total"]
        if not math.isfinite(total):
            # The image the previous, finite step evaluated.
            partial = StylizeResult(last_finite, records, len(records), 0.0, "", True) if records else None
            raise DivergedError(divergence_message(total, step), partial, loss=total, step=step)
        last_finite, being_evaluated = being_evaluated, last_finite
        records.append({"step": step, **losses})
        current = image.detach() if averaged is None else averaged.update(image.detach())
        if callback is not None:
            iterate = Iterate(
                step=step,
                num_steps=total_steps,
                losses=losses,
                image=current.clamp(0.0, 1.0),
                elapsed=time.perf_counter() - started,
            )
            if callback(iterate):
                return current, records, True
    return (image.detach() if averaged is None else averaged.value), records, False


class IterateAverage:
    """A bias-corrected exponential moving average of the optimized image."""

    def __init__(self, decay: float, start: torch.Tensor) -> None:
        self.decay = decay
        self.accumulated = torch.zeros_like(start)
        self.weight = 0.0
        self.value = start.clone()

    def update(self, image: torch.Tensor) -> torch.Tensor:
        """Add ``image``; return the average so far."""
        self.accumulated.mul_(self.decay).add_(image, alpha=1 - self.decay)
        self.weight = self.weight * self.decay + (1 - self.decay)
        self.value = self.accumulated / self.weight
        return self.value

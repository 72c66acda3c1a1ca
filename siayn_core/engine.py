"""The optimization loop: style transfer by image optimization (Gatys et al. 2016).

:func:`stylize` turns PIL images and :class:`~siayn_core.config.StylizeOptions` into a
stylized image and its losses, coarse to fine (:mod:`siayn_core.schedule`), in tiles when
the image is large (:mod:`siayn_core.tiling`). It writes no files: :mod:`siayn_core.runs`
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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from .bounds import BoxProjection
from .colour_control import ColourControl
from .config import StylizeOptions
from .devices import resolve_device
from .errors import SiaynError
from .image_io import output_size, resize, to_tensor
from .objective import Objective, build_components
from .schedule import CarryStepScale, Stage, plan_stages, stage_images, upsample, upsample_detail

if TYPE_CHECKING:
    from PIL import Image

    from .registry import Registry


@dataclass(frozen=True)
class Iterate:
    """What a callback receives after each optimization step.

    :param step: the step just taken, from 1 to ``num_steps``.
    :param losses: ``total``, ``content``, ``style`` and ``tv``: the weighted terms of the
        objective (``total`` is their sum) as evaluated during this step.
    :param image: the image after this step: detached, ``(1, 3, H, W)``, clamped to ``[0, 1]``.
    :param elapsed: seconds since the run started (including setup).
    """

    step: int
    num_steps: int
    losses: dict[str, float]
    image: torch.Tensor
    elapsed: float


#: A callback may return True to stop the run early (the current image is kept).
Callback = Callable[[Iterate], "bool | None"]


@dataclass
class StylizeResult:
    """The outcome of :func:`stylize`.

    :param image: ``(1, 3, H, W)`` on the CPU, clamped to ``[0, 1]``.
    :param losses: one ``{"step", "total", "content", "style", "tv"}`` record per step.
    :param steps: the steps actually taken (fewer than ``num_steps`` when stopped).
    :param stopped: True when a callback stopped the run.
    :param seed: the seed the run used (drawn at random when none was given).
    :param components: for each component key (``backbone``, ``opt``...), the component's
        name, plugin and options as used.
    """

    image: torch.Tensor
    losses: list[dict[str, float]]
    steps: int
    seconds: float
    device: str
    stopped: bool
    seed: int = 0
    components: dict[str, dict[str, Any]] = field(default_factory=dict)

class DivergedError(SiaynError):
    """The loss became NaN or infinite: the optimization diverged.

    :param result: the run up to its last step with a finite loss, holding the image that
        step evaluated (None when even the first step's loss was not finite).
    """

    def __init__(
        self, message: str, result: StylizeResult | None = None, *, loss: float = math.nan, step: int = 0
    ) -> None:
        super().__init__(message)
        self.result = result
        self.loss = loss
        self.step = step


def divergence_message(total: float, step: int, options: StylizeOptions | None = None) -> str:
    """What went wrong and what to change."""
    lr = f"lr (now {options.lr:g})" if options is not None and options.lr is not None else "lr"
    return (
        f"the loss became {total} at step {step}: the optimization diverged; lower {lr} or the style/"
        "content weights, or switch optimizer (--set opt=lbfgs, or opt=adam with lr 0.02)"
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
    :raises DivergedError: when the loss stops being finite, with the last finite state.
    """
    started = time.perf_counter()
    if not styles:
        raise SiaynError("stylize needs at least one style image")
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
    control = ColourControl(options.color_control, content)
    content, styles = control.prepare(styles)
    if control.recolours and callback is not None:
        callback = _recoloured(callback, control)
    # Coarse to fine (see siayn_core.schedule): step numbers run on across the stages.
    stages = stages_for(options, size)
    objective = Objective(options, components, len(styles))
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
        stage_content, stage_styles = stage_images(content, styles, stage.size, size, options.style_resize)
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
        try:
            image, records, stopped = optimize_at_size(
                first.to(torch_device),
                content_tensor,
                style_tensors,
                stage_objective(objective, stage, options, generator),
                make_optimizer,
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
    )


def stage_objective(
    objective: Objective, stage: Stage, options: StylizeOptions, generator: torch.Generator
) -> Objective:
    """``objective``, or for a stage larger than ``tile_size`` its tiled evaluation
    (:mod:`siayn_core.tiling`), which computes the same objective in less memory."""
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
) -> tuple[torch.Tensor, list[dict[str, float]], bool]:
    """Optimize ``start`` for ``num_steps`` steps at its own size.

    ``content`` and ``styles`` set the objective's targets (at the sizes given). A
    multi-scale schedule calls this once per size with the upsampled previous result as
    ``start``, numbering steps from ``first_step`` out of ``total_steps``.

    :param average: the decay of an exponential moving average of the iterates; when set,
        the average is what callbacks see and what is returned.
    :returns: the optimized (unclamped) image, the per-step loss records, and whether a
        callback stopped the run.
    """
    started = time.perf_counter() if started is None else started
    total_steps = num_steps if total_steps is None else total_steps
    objective.set_targets(content, styles)
    image = start.detach().clone().requires_grad_(True)
    optimizer = make_optimizer([image])
    evaluated: list[torch.Tensor] = []
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
        total, terms = objective(image)
        total.backward()
        if box is not None:
            box.project_gradient()
        evaluated.append(terms)
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
        total, content_term, style_term, tv_term = evaluated[0].tolist()
        if not math.isfinite(total):
            # The image the previous, finite step evaluated.
            partial = StylizeResult(last_finite, records, len(records), 0.0, "", True) if records else None
            raise DivergedError(divergence_message(total, step), partial, loss=total, step=step)
        last_finite, being_evaluated = being_evaluated, last_finite
        losses = {"total": total, "content": content_term, "style": style_term, "tv": tv_term}
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


def chain(callbacks: Sequence[Callback | None]) -> Callback:
    """One callback calling each of ``callbacks`` (None entries skipped); True from any stops the run."""
    active = [callback for callback in callbacks if callback is not None]

    def call_all(iterate: Iterate) -> bool:
        stop = False
        for callback in active:
            stop = bool(callback(iterate)) or stop
        return stop

    return call_all

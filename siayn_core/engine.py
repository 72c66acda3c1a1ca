"""The optimization loop: style transfer by image optimization (Gatys et al. 2016).

:func:`stylize` turns PIL images and :class:`~siayn_core.config.StylizeOptions` into a
stylized image; :func:`run_stylize` runs one :class:`~siayn_core.config.RunSpec` and writes
its files. The CLI and the GUI both call these: there is no second copy of the loop.

Every component (backbone, losses, initialiser, optimizer) comes from the registry, so this
module knows nothing about VGG, Gram matrices or L-BFGS.
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import secrets
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .config import COMPONENT_KEYS, DEVICES, RunSpec, StylizeOptions, component_options, style_weights
from .errors import SiaynError
from .image_io import output_size, read_image, resize, to_pil, to_tensor, write_image, write_text
from .bounds import BoxProjection
from .schedule import CarryStepScale, Stage, plan_stages, stage_images, upsample, upsample_detail

if TYPE_CHECKING:
    from PIL import Image

    from .registry import Registry
    from .resume import ResumePoint

#: Joins the content and style names in a result's file name, as the seed did.
NAME_SEPARATOR = "!-!"


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


@dataclass(frozen=True)
class RunOutput:
    """The files :func:`run_stylize` wrote.

    :param run_dir: ``<output>/<run>`` (or ``<output>/<run>-2``... when that was taken).
    :param image: the stylized image, before any postprocessing.
    :param metadata: ``run.json``.
    :param processed: the postprocessed images, in the order of the run's ``postprocess`` list.
    :param frames: the folder of intermediate frames, when ``save_every`` is set.
    """

    run: str
    run_dir: Path
    image: Path
    metadata: Path
    result: StylizeResult
    processed: list[Path] = field(default_factory=list)
    frames: Path | None = None


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


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda, else mps, else cpu; an unavailable device is a SiaynError."""
    name = (name or "auto").strip().lower()
    mps = getattr(torch.backends, "mps", None)
    mps_available = bool(mps and mps.is_available())
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if mps_available else "cpu"
    kind = name.split(":", 1)[0]
    if kind not in DEVICES:
        raise SiaynError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise SiaynError("device 'cuda' requested but CUDA is not available; use --device auto or cpu")
    if kind == "mps" and not mps_available:
        raise SiaynError("device 'mps' requested but MPS is not available; use --device auto or cpu")
    return torch.device(name)


class Objective:
    """The weighted loss of a generated image against targets fixed at one image size.

    One backbone forward pass per evaluation serves the content and every style loss.
    """

    def __init__(self, options: StylizeOptions, components: Mapping[str, Any], n_styles: int) -> None:
        self.extractor = components["backbone"]
        self.content_loss = components["content_loss"]
        self.style_loss = components["style_loss"]
        self.tv_loss = components["tv_loss"] if options.tv_weight else None
        self.content_weight = options.content_weight
        self.tv_weight = options.tv_weight or 0.0
        self.content_layers = list(dict.fromkeys(options.content_layers))
        layer_weights = options.style_layers_weights or [1.0] * len(options.style_layers)
        # The seed's rule: the weighted layer losses are averaged over the style layers.
        self.style_coefficients = [
            {layer: weight * lw / len(options.style_layers) for layer, lw in zip(options.style_layers, layer_weights)}
            for weight in style_weights(options, n_styles)
        ]
        self.content_targets: dict[str, torch.Tensor] = {}
        self.style_targets: list[dict[str, torch.Tensor]] = []
        self._zero = torch.zeros(())

    @torch.no_grad()
    def set_targets(self, content: torch.Tensor, styles: Sequence[torch.Tensor]) -> None:
        """Compute the content and style targets (once per image size)."""
        self._zero = content.new_zeros(())
        features = self._features_of(content, "content")
        self.content_targets = {layer: self.content_loss.target(features[layer]) for layer in self.content_layers}
        self.style_targets = []
        for style, coefficients in zip(styles, self.style_coefficients):
            features = self._features_of(style, "style")
            self.style_targets.append(
                {layer: self.style_loss.target(features[layer]) for layer, c in coefficients.items() if c}
            )

    def _features_of(self, image: torch.Tensor, what: str) -> Mapping[str, torch.Tensor]:
        try:
            return self.extractor(image)
        except RuntimeError as error:
            if "too small" not in str(error):
                raise
            height, width = image.shape[-2:]
            raise SiaynError(
                f"the {what} image is too small for the chosen layers at {width}x{height} px: "
                "raise scaler (or use a larger image), or choose shallower layers"
            ) from None

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The total loss (for backward) and the detached terms ``[total, content, style, tv]``."""
        features = self.extractor(image)
        zero = self._zero
        content = zero
        if self.content_weight:
            for layer, target in self.content_targets.items():
                content = content + self.content_loss(features[layer], target)
            content = content * (self.content_weight / len(self.content_targets))
        style = zero
        for targets, coefficients in zip(self.style_targets, self.style_coefficients):
            for layer, target in targets.items():
                style = style + coefficients[layer] * self.style_loss(features[layer], target)
        tv = self.tv_weight * self.tv_loss(image, None) if self.tv_loss is not None else zero
        total = content + style + tv
        return total, torch.stack((total, content, style, tv)).detach()


def build_components(
    options: StylizeOptions, registry: Registry, device: torch.device
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Create every component a run names; returns them with a record of what was used.

    The backbone entry is already the feature extractor for the run's layers, on ``device``.
    """
    built: dict[str, Any] = {}
    record: dict[str, dict[str, Any]] = {}
    for key, (kind, _) in COMPONENT_KEYS.items():
        name = getattr(options, key)
        values = component_options(options, key, registry)
        component = registry.get(kind, name)
        built[key] = registry.create(kind, name, values)
        record[key] = {"name": name, "component": component.name, "plugin": component.plugin, "options": values}
    layers = list(dict.fromkeys([*options.content_layers, *options.style_layers]))
    extractor = built["backbone"].extractor(layers)
    if isinstance(extractor, torch.nn.Module):
        extractor = extractor.to(device)
    from .acceleration import accelerate

    built["backbone"] = accelerate(
        extractor, device, channels_last=options.channels_last, precision=options.precision, compile=options.compile
    )
    return built, record


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
            image=upsample(final, size).clamp(0.0, 1.0).cpu(),  # a coarse stage's image at the output size
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
            first = to_tensor(resize(start.convert("RGB"), stage.size))
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
        image = to_tensor(resize(start.convert("RGB"), size)) if start is not None else None
    assert image is not None
    return result_of(image, stopped)


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
) -> tuple[torch.Tensor, list[dict[str, float]], bool]:
    """Optimize ``start`` for ``num_steps`` steps at its own size.

    ``content`` and ``styles`` set the objective's targets (at the sizes given). A
    multi-scale schedule calls this once per size with the upsampled previous result as
    ``start``, numbering steps from ``first_step`` out of ``total_steps``.

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
        if callback is not None:
            iterate = Iterate(
                step=step,
                num_steps=total_steps,
                losses=losses,
                image=image.detach().clamp(0.0, 1.0),
                elapsed=time.perf_counter() - started,
            )
            if callback(iterate):
                return image.detach(), records, True
    return image.detach(), records, False


# --------------------------------------------------------------------------- run files


def result_stem(content: Path, styles: Sequence[Path]) -> str:
    """``<content>!-!<style1>+<style2>``: the seed's result name, several styles joined by ``+``."""
    return f"{content.stem}{NAME_SEPARATOR}{'+'.join(style.stem for style in styles)}"


def claim_run_dir(output_dir: Path, name: str, *, overwrite: bool) -> Path:
    """The folder for a run's files: ``<output>/<name>``, or ``<name>-2``, ``-3``... when it
    already holds files, so no earlier result is replaced (unless ``overwrite``)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    candidate, number = output_dir / name, 1
    while True:
        if overwrite and number == 1:
            candidate.mkdir(exist_ok=True)
            return candidate
        try:
            candidate.mkdir()  # atomic: two processes never claim the same folder
            return candidate
        except FileExistsError:
            if candidate.is_dir() and not any(candidate.iterdir()):
                return candidate
        number += 1
        candidate = output_dir / f"{name}-{number}"


class FrameWriter:
    """A callback saving the image every ``every`` steps (and at the last) as
    ``frame_<step>.png``, zero-padded so that names sort in step order."""

    def __init__(
        self, directory: Path, every: int, num_steps: int, size: tuple[int, int] | None = None, *, fresh: bool = True
    ) -> None:
        self.directory = directory
        self.every = every
        self.size = size  # frames of coarse multi-scale stages are enlarged to the output size
        self.width = max(4, len(str(num_steps)))
        if fresh and directory.is_dir():  # an overwritten run: old frames would mix into the new GIF
            shutil.rmtree(directory)

    def __call__(self, iterate: Iterate) -> None:
        if iterate.step % self.every == 0 or iterate.step == iterate.num_steps:
            # write_image creates the folder with the first frame
            frame = to_pil(iterate.image)
            if self.size is not None and frame.size != self.size:
                frame = resize(frame, self.size)
            write_image(frame, self.directory / f"frame_{iterate.step:0{self.width}d}.png")


class ProgressBar:
    """A rich progress bar on stderr showing the step, the losses, it/s and the ETA."""

    def __init__(self, description: str, num_steps: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class SpeedColumn(ProgressColumn):
            def render(self, task: Any) -> Text:
                return Text(f"{task.speed:.2f} it/s" if task.speed else "- it/s")

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("{task.fields[losses]}"),
            SpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.task = self.progress.add_task(description, total=num_steps, losses="")

    def __enter__(self) -> ProgressBar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, iterate: Iterate) -> None:
        losses = iterate.losses
        text = " ".join(f"{key} {losses[key]:.3g}" for key in ("total", "content", "style", "tv"))
        self.progress.update(self.task, completed=iterate.step, total=iterate.num_steps, losses=text)


def _chain(callbacks: Sequence[Callback | None]) -> Callback:
    active = [callback for callback in callbacks if callback is not None]

    def call_all(iterate: Iterate) -> bool:
        stop = False
        for callback in active:
            stop = bool(callback(iterate)) or stop
        return stop

    return call_all


def run_stylize(
    spec: RunSpec,
    *,
    registry: Registry,
    output_dir: str | Path,
    device: str = "auto",
    seed: int | None = None,
    quiet: bool = False,
    callback: Callback | None = None,
    overwrite: bool = False,
    resume: ResumePoint | None = None,
) -> RunOutput:
    """Run one config run and write its files under ``output_dir``.

    Writes ``<output>/<run>/<content>!-!<style>.png``, ``run.json`` and, with
    ``save_every``, ``frames/frame_<step>.png``. An existing run folder is never reused:
    the next free ``<run>-2``, ``<run>-3``... is taken instead, unless ``overwrite``.

    :param quiet: no progress bar.
    :param callback: also called after every step (e.g. a GUI preview); True stops the run.
    :param resume: go on with a stopped run (see :mod:`siayn_core.resume`) in its own folder,
        from its saved image and step; ``spec`` and ``output_dir`` are then ignored.
    :raises DivergedError: after saving the last image with a finite loss and ``run.json``
        (marked ``"diverged": true``).
    """
    if resume is not None:
        spec = resume.spec
    options = spec.options
    content = read_image(spec.content)
    styles = [read_image(path) for path in spec.styles]
    run_dir = resume.run_dir if resume else claim_run_dir(Path(output_dir), spec.name, overwrite=overwrite)
    image_path = resume.image_path if resume else run_dir / f"{result_stem(spec.content, spec.styles)}.png"
    frames = (
        FrameWriter(run_dir / "frames", options.save_every, options.num_steps,
                    output_size(content.size, longer_side=options.size, scale=options.scaler),
                    fresh=resume is None)
        if options.save_every
        else None
    )
    try:
        with ExitStack() as stack:
            progress = None if quiet else stack.enter_context(ProgressBar(spec.name, options.num_steps))
            result = stylize(
                content,
                styles,
                options,
                registry=registry,
                device=device,
                seed=seed,
                callback=_chain([frames, progress, callback]),
                start=resume.image if resume else None,
                steps_done=resume.steps_done if resume else 0,
            )
    except DivergedError as error:
        if error.result is None:
            with suppress(OSError):
                run_dir.rmdir()
            raise
        saved = _save(spec, run_dir, image_path, frames, error.result, resume, diverged=str(error))
        raise DivergedError(
            f"{error}; kept the image of step {error.result.steps} (the last with a finite loss): "
            f"{saved.image}",
            error.result,
            loss=error.loss,
            step=error.step,
        ) from None
    except BaseException:
        with suppress(OSError):
            run_dir.rmdir()  # only if the failed run left it empty: the next run may use it
        raise
    output = _save(spec, run_dir, image_path, frames, result, resume)
    # run.json is written with the image, then again with the postprocessed files, so a
    # run killed while postprocessing still has both.
    output = dataclasses.replace(
        output, processed=postprocess_result(to_pil(result.image), spec, image_path, registry=registry)
    )
    if output.processed:
        write_text(json.dumps(run_record(spec, output), indent=2) + "\n", output.metadata)
    return output


def _save(
    spec: RunSpec,
    run_dir: Path,
    image_path: Path,
    frames: FrameWriter | None,
    result: StylizeResult,
    resume: ResumePoint | None,
    *,
    diverged: str | None = None,
) -> RunOutput:
    """Write a run's image and run.json (atomically); a resumed run's losses include the
    steps taken before it stopped."""
    if resume is not None:
        result.losses = [*resume.losses, *result.losses]
        result.steps = len(result.losses)
    write_image(to_pil(result.image), image_path)
    output = RunOutput(
        run=spec.name,
        run_dir=run_dir,
        image=image_path,
        metadata=run_dir / "run.json",
        result=result,
        frames=frames.directory if frames else None,
    )
    record = run_record(spec, output)
    if resume is not None:
        record["resumed_from"] = resume.steps_done
    if diverged is not None:
        record.update(diverged=True, error=diverged)
    write_text(json.dumps(record, indent=2) + "\n", output.metadata)
    return output


def postprocess_result(image: Image.Image, spec: RunSpec, image_path: Path, *, registry: Registry) -> list[Path]:
    """Apply the run's ``postprocess`` list; each step's image is saved next to the
    unprocessed one as ``<name>.<step>[.<step>...].png``. Returns every file written."""
    if not spec.options.postprocess:
        return []
    from .postprocess import apply_postprocessors, search_dirs, step_output_path
    from .protocols import PostprocessContext

    run_dir = image_path.parent
    context = PostprocessContext(
        content=spec.content,
        styles=spec.styles,
        run_dir=run_dir,
        output_dir=run_dir,
        search_dirs=search_dirs(spec.source),
    )
    steps = apply_postprocessors(image, spec.options.postprocess, registry=registry, context=context, where=spec.where)
    written, names = [], []
    for name, processed in steps:
        names.append(name)
        written.append(write_image(processed, step_output_path(image_path, names, run_dir)))
    return written + [Path(path) for path in context.files]


def run_record(spec: RunSpec, output: RunOutput) -> dict[str, Any]:
    """What ``run.json`` holds: the resolved config, the files, timings and losses."""
    result = output.result
    config = dataclasses.asdict(spec.options)
    # Absolute, so that `--resume` finds the images from any working directory.
    config["content"] = str(spec.content.resolve())
    config["style"] = [str(path.resolve()) for path in spec.styles]
    config["seed"] = result.seed
    return {
        "run": spec.name,
        "source": str(spec.source) if spec.source else None,
        "config": config,
        "output": str(output.image),
        "postprocessed": [str(path) for path in output.processed],
        "frames": str(output.frames) if output.frames else None,
        "size": [int(result.image.shape[-1]), int(result.image.shape[-2])],
        "seconds": round(result.seconds, 3),
        "device": result.device,
        "steps": result.steps,
        "stopped": result.stopped,
        "seed": result.seed,
        "components": result.components,
        "losses": result.losses,
        "versions": library_versions(),
    }


def library_versions() -> dict[str, str]:
    """Versions of SIAYN, Python and the libraries a result depends on."""
    import importlib.metadata

    versions = {"python": platform.python_version()}
    for distribution in ("siayn", "torch", "torchvision", "pillow", "numpy"):
        try:
            versions[distribution] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            versions[distribution] = "not installed"
    return versions

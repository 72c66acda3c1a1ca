"""What the GUI's buttons do, as plain Python: no Gradio here, so tests call it directly.

A run goes through :func:`siayn_core.runs.folder.run_stylize`, exactly as ``siayn stylize`` does;
the GUI only adds an engine callback that hands a snapshot to the browser every few steps
and returns True once Stop was pressed (the engine then keeps the current image).
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine.outcomes import loss_names
from ..plugin.errors import SiaynError
from .form import Form, Key, build_form, postprocess_steps, run_settings

if TYPE_CHECKING:
    from PIL import Image

    from ..config.schema import RunSpec
    from ..engine.loop import Iterate
    from ..engine.painter import Painters
    from ..runs.folder import RunOutput
    from ..host.registry import Registry

#: The folder name of every GUI run under the output folder (``gui``, ``gui-2``...).
RUN_NAME = "gui"
#: How many sessions' last results are kept for "apply postprocessing again".
MAX_REMEMBERED_RUNS = 32
#: The least time between two previews, so tiny fast runs do not flood the browser.
MIN_PREVIEW_INTERVAL = 0.2


@dataclasses.dataclass(frozen=True)
class Update:
    """What the page shows after a step (or at the end of a run).

    :param image: the current image (a PIL image while running, the result file at the end).
    :param status: a short Markdown text: step, time, ETA, or the outcome.
    :param progress: the fraction of steps done, from 0 to 1.
    :param losses: every ``{"step", "total", **terms}`` record so far.
    :param files: the files to download, once the run has finished.
    :param results: ``(image file, caption)`` for the result and each postprocessed image.
    :param done: True for the last update of a run.
    """

    image: Image.Image | Path | None
    status: str
    progress: float = 0.0
    losses: tuple[Mapping[str, float], ...] = ()
    files: tuple[Path, ...] = ()
    results: tuple[tuple[Path, str], ...] = ()
    done: bool = False


class StopFlags:
    """The Stop flag of each browser session's run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flags: dict[str, threading.Event] = {}

    def begin(self, session: str) -> threading.Event:
        """A fresh flag for a new run of ``session`` (an older run of it is told to stop)."""
        flag = threading.Event()
        with self._lock:
            previous = self._flags.get(session)
            if previous is not None:
                previous.set()
            self._flags[session] = flag
        return flag

    def stop(self, session: str) -> bool:
        """Ask the run of ``session`` to stop; False when it has none."""
        with self._lock:
            flag = self._flags.get(session)
        if flag is None or flag.is_set():
            return False
        flag.set()
        return True

    def end(self, session: str, flag: threading.Event) -> None:
        """Forget ``flag`` once its run is over."""
        with self._lock:
            if self._flags.get(session) is flag:
                del self._flags[session]


class Worker:
    """Runs ``work`` in a daemon thread; what it hands to :meth:`post` comes out of :meth:`messages`."""

    def __init__(self, work: Callable[[], Any], *, name: str) -> None:
        self._work = work
        self._name = name
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()

    def post(self, payload: Any) -> None:
        """Hand ``payload`` (progress) to the page; called from the worker thread."""
        self._queue.put(("post", payload))

    def messages(self) -> Iterator[tuple[bool, Any]]:
        """Start the work; yield ``(False, payload)`` for the newest post (older ones not yet
        taken are skipped), then ``(True, what work returned)``; re-raise its error here."""

        def target() -> None:
            try:
                self._queue.put(("done", self._work()))
            except BaseException as error:  # handed to the page; the thread must not die silently
                self._queue.put(("error", error))

        threading.Thread(target=target, name=self._name, daemon=True).start()
        while True:
            kind, payload = self._queue.get()
            if kind == "post":
                while not self._queue.empty() and self._queue.queue[0][0] == "post":
                    payload = self._queue.get()[1]
                yield False, payload
            elif kind == "done":
                yield True, payload
                return
            else:
                raise payload


class GuiBackend:
    """The state behind one ``siayn gui`` server: its plugins, form and output folder.

    :param registry: the components the form offers.
    :param output_dir: where runs are written (``<output>/gui``, ``gui-2``...).
    :param device: ``auto``, ``cpu``, ``cuda`` or ``mps``, as for ``siayn stylize``.
    """

    def __init__(self, registry: Registry, output_dir: str | Path, *, device: str = "auto",
                 max_styles: int = 4) -> None:
        self.registry = registry
        self.output_dir = Path(output_dir)
        self.device = device
        self.form: Form = build_form(registry, max_styles=max_styles)
        self.flags = StopFlags()
        self.last_runs: dict[str, tuple[RunSpec, RunOutput]] = {}
        self._painters: Painters | None = None

    @property
    def painters(self) -> Painters:
        """The built components of this server's runs: a rerun with the same components and
        styles loads no weights and computes no style targets again."""
        if self._painters is None:
            from ..engine.painter import Painters

            self._painters = Painters(self.registry, self.device)
        return self._painters

    # --- building a run --------------------------------------------------------------------

    def run_spec(self, values: Mapping[Key, Any]) -> RunSpec:
        """Validate the form into the run the engine will carry out.

        :raises SiaynError: naming the first bad value, as the config loader words it.
        """
        from ..config.resolve import ImageReader, resolve_run

        settings = run_settings(self.form, values, self.registry)
        return resolve_run(RUN_NAME, settings, where="the form", registry=self.registry, reader=ImageReader())

    # --- running ----------------------------------------------------------------------------

    def run(self, values: Mapping[Key, Any], *, session: str = "local",
            preview_every: int = 5) -> Iterator[Update]:
        """Run the stylization the form describes, yielding an :class:`Update` every
        ``preview_every`` steps and a final one with the result files.

        The engine runs in a worker thread; closing this generator (the browser went away)
        stops it like the Stop button does.
        """
        spec = self.run_spec(values)
        preview_every = max(1, int(preview_every or 1))
        flag = self.flags.begin(session)
        history: list[dict[str, float]] = []
        first_step_at: list[float] = []

        def on_step(iterate: Iterate) -> bool:
            history.append({"step": iterate.step, **iterate.losses})
            if not first_step_at:
                first_step_at.append(iterate.elapsed)
            due = iterate.step % preview_every == 0 or iterate.step in (1, iterate.num_steps)
            if due or flag.is_set():
                worker.post(_Snapshot.of(iterate, tuple(history), first_step_at[0]))
            return flag.is_set()

        def work() -> RunOutput:
            from ..runs.folder import run_stylize

            return run_stylize(spec, registry=self.registry, output_dir=self.output_dir, device=self.device,
                               seed=None, callback=on_step, painters=self.painters)

        worker = Worker(work, name="siayn-gui-run")
        try:
            yield Update(image=None, status=f"Preparing {spec.options.num_steps} steps…")
            shown = 0.0
            for finished, payload in worker.messages():
                if finished:
                    self.last_runs.pop(session, None)
                    self.last_runs[session] = (spec, payload)
                    while len(self.last_runs) > MAX_REMEMBERED_RUNS:  # forget the oldest session's
                        self.last_runs.pop(next(iter(self.last_runs)))
                    yield finished_update(payload, spec.options.num_steps)
                    return
                if time.monotonic() - shown < MIN_PREVIEW_INTERVAL and payload.step < payload.num_steps:
                    continue
                shown = time.monotonic()
                yield payload.update(stopping=flag.is_set())
        finally:
            flag.set()
            self.flags.end(session, flag)

    def postprocess_again(self, values: Mapping[Key, Any], *, session: str = "local") -> Update:
        """Apply the ticked postprocessors to the session's last result, without running the
        optimization again; the new images are written next to it, named after their steps."""
        from ..config.components import check_components
        from ..runs.folder import postprocess_result
        from ..io.images import read_image

        last = self.last_runs.get(session)
        if last is None:
            raise SiaynError("nothing to postprocess yet: run a stylization first")
        steps = postprocess_steps(self.form, values)
        if not steps:
            raise SiaynError("tick at least one postprocessor")
        spec, output = last
        options = dataclasses.replace(spec.options, postprocess=steps)
        check_components(options, self.registry, where="the form")
        processed = postprocess_result(read_image(output.image), dataclasses.replace(spec, options=options), output.image,
                                       registry=self.registry)
        again = dataclasses.replace(output, processed=processed)
        names = ", ".join(step["name"] for step in steps)
        update = finished_update(again, spec.options.num_steps)
        return dataclasses.replace(update, status=f"**Postprocessed** with {names}.  \nSaved in `{output.run_dir}`.")

    def stop(self, session: str = "local") -> str:
        """The Stop button: the run ends after its current step, keeping its image."""
        if self.flags.stop(session):
            return "Stopping after the current step…"
        return "Nothing is running."


@dataclasses.dataclass(frozen=True)
class _Snapshot:
    step: int
    num_steps: int
    elapsed: float
    image: Image.Image
    losses: tuple[Mapping[str, float], ...]
    first_step_at: float | None

    @classmethod
    def of(cls, iterate: Iterate, history: tuple[Mapping[str, float], ...],
           first_step_at: float | None) -> _Snapshot:
        from ..io.images import to_pil

        return cls(iterate.step, iterate.num_steps, iterate.elapsed, to_pil(iterate.image), history,
                   first_step_at)

    def update(self, *, stopping: bool) -> Update:
        status = progress_text(self.step, self.num_steps, self.elapsed, self.losses,
                               first_step_at=self.first_step_at)
        if stopping:
            status = "Stopping… " + status
        return Update(image=self.image, status=status, progress=self.step / max(1, self.num_steps),
                      losses=self.losses)


def progress_text(step: int, num_steps: int, elapsed: float,
                  losses: Sequence[Mapping[str, float]] = (), *, first_step_at: float | None = None,
                  unit: str = "Step") -> str:
    """``Step 40 / 200 · 3.2 s elapsed · about 12 s left`` and the latest losses.

    :param unit: what is counted (``Frame`` for a clip's frames).

    :param first_step_at: the elapsed time at step 1; the ETA then uses the time per step
        since step 1, so the setup (building the backbone, computing targets) does not
        inflate it.
    """
    parts = [f"**{unit} {step} / {num_steps}**", f"{elapsed:.1f} s elapsed"]
    if 0 < step < num_steps:
        if first_step_at is not None and step > 1:
            per_step = (elapsed - first_step_at) / (step - 1)
        else:
            per_step = elapsed / step
        parts.append(f"about {format_seconds(per_step * (num_steps - step))} left")
    text = " · ".join(parts)
    if losses:
        latest = losses[-1]
        text += "  \n" + " · ".join(f"{term} {latest[term]:.4g}" for term in loss_names(latest))
    return text


def format_seconds(seconds: float) -> str:
    """``42 s``, ``3 min 5 s``, ``1 h 2 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def finished_update(output: RunOutput, num_steps: int) -> Update:
    """The last update of a run: the result, every file to download, and the outcome."""
    result = output.result
    if result.stopped:
        outcome = f"**Stopped** at step {result.steps} of {num_steps}"
    else:
        outcome = f"**Finished** {result.steps} steps"
    status = (
        f"{outcome} in {result.seconds:.1f} s on {result.device} in {result.precision} (seed {result.seed}).  \n"
        f"Saved in `{output.run_dir}`."
    )
    results = [(output.image, "stylized")] + [(path, step_caption(output.image, path)) for path in output.processed]
    shown = [path for path, _ in results if path.suffix.lower() == ".png"][-1]
    files = [output.image, *output.processed, output.metadata]
    return Update(
        image=shown, status=status, progress=1.0, losses=tuple(result.losses),
        files=tuple(files), results=tuple(results), done=True,
    )


def step_caption(stylized: Path, processed: Path) -> str:
    """``photo!-!swirls.preserve-colors.denoise.png`` -> ``preserve-colors.denoise``; any
    other file (a GIF) by its name."""
    prefix = stylized.stem + "."
    if processed.name.startswith(prefix) and processed.suffix.lower() == ".png":
        return processed.stem[len(prefix):]
    return processed.name

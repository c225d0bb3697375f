"""What the Worldgen window decides, without Kit: the form, its checks, and the build job.

The window (:mod:`.window`) only shows a :class:`BuildForm`'s fields, calls
:meth:`BuildForm.problems` to enable "Build and spawn", starts a
:class:`BuildJob` and draws its :class:`JobState` each frame. All of that is
tested on CPU.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["AGENT_PRESETS", "BuildForm", "BuildJob", "JobState", "input_kind"]

AGENT_PRESETS = ("wheeled", "quadruped", "humanoid")
"""Navigation agent presets offered in the window (``navigation.preset``)."""
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def input_kind(path: str | Path) -> str | None:
    """``"ply"``, ``"rgbd"`` (a folder with ``color/`` and ``depth/``), ``"image"``, or None when unusable."""
    path = Path(path)
    if path.is_dir():
        return "rgbd" if (path / "color").is_dir() and (path / "depth").is_dir() else None
    if not path.is_file():
        return None
    suffix = path.suffix.lower()
    if suffix == ".ply":
        return "ply"
    return "image" if suffix in _IMAGE_SUFFIXES else None


@dataclass
class BuildForm:
    """The window's inputs.

    Attributes:
        input_path: a Gaussian PLY, an RGB-D folder or a picture.
        out_dir: where the world goes; empty means ``<input>_world`` beside the input.
        scale_mode: ``"camera_height"`` (relative-depth inputs) or ``"scale"``, or ``"auto"`` (neither).
        camera_height: the input camera's height above the floor [m].
        scale: world metres per input unit.
        dynamic_objects: objects become pushable rigid bodies.
        agent: navigation agent preset, one of :data:`AGENT_PRESETS`.
    """

    input_path: str = ""
    out_dir: str = ""
    scale_mode: str = "auto"
    camera_height: float = 1.5
    scale: float = 1.0
    dynamic_objects: bool = False
    agent: str = "quadruped"

    def kind(self) -> str | None:
        """The input's kind (see :func:`input_kind`)."""
        return input_kind(self.input_path) if self.input_path else None

    def output(self) -> Path:
        """The world package folder this form builds."""
        if self.out_dir:
            return Path(self.out_dir)
        source = Path(self.input_path)
        return source.with_name(source.stem + "_world")

    def problems(self) -> list[str]:
        """What must be fixed before building (empty when the form is ready), one sentence each."""
        found = []
        if not self.input_path:
            found.append("choose an input: a Gaussian .ply, an RGB-D folder or a picture")
        elif self.kind() is None:
            found.append(f"input '{self.input_path}' is not a .ply, a picture or an RGB-D folder (color/ and depth/)")
        if self.scale_mode == "camera_height" and not self.camera_height > 0:
            found.append("camera height must be above 0 m")
        if self.scale_mode == "scale" and not self.scale > 0:
            found.append("scale must be above 0 metres per unit")
        if self.scale_mode not in ("auto", "camera_height", "scale"):
            found.append(f"scale mode '{self.scale_mode}' is not auto, camera_height or scale")
        if self.agent not in AGENT_PRESETS:
            found.append(f"agent '{self.agent}' is not one of {', '.join(AGENT_PRESETS)}")
        if self.input_path and Path(self.input_path).absolute() == self.output().absolute():
            found.append("the output folder must differ from the input")
        return found

    def overrides(self) -> dict:
        """The dotted config keys this form sets (``worldgen build`` options)."""
        values: dict = {"navigation.preset": self.agent, "collision.dynamic_objects": bool(self.dynamic_objects)}
        if self.scale_mode == "camera_height":
            values["align.camera_height"] = float(self.camera_height)
        elif self.scale_mode == "scale":
            values["align.scale"] = float(self.scale)
        return values


@dataclass
class JobState:
    """A build job as the window shows it.

    Attributes:
        status: ``"idle"``, ``"running"``, ``"done"`` or ``"failed"``.
        line: the latest progress line (or the result / error text).
        fraction: progress in [0, 1] when the stage reports chunks, else None.
        result: the job's return value once done.
    """

    status: str = "idle"
    line: str = ""
    fraction: float | None = None
    result: object = None


@dataclass
class BuildJob:
    """Runs ``work(progress)`` on a worker thread, so Kit's UI thread never blocks on a build.

    ``work`` receives a ``worldgen_sim.Progress`` whose lines land in :attr:`state`;
    a ``WorldgenError`` (the user's mistake) becomes the state's ``line`` with
    status ``"failed"``; any other exception too, prefixed with its type.
    """

    state: JobState = field(default_factory=JobState)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def running(self) -> bool:
        """A build is under way."""
        return self._thread is not None and self._thread.is_alive()

    def start(self, work) -> bool:
        """Start ``work`` unless a job is running; returns whether it started."""
        if self.running:
            return False
        self.state = JobState(status="running", line="starting ...")
        self._thread = threading.Thread(target=self._run, args=(work,), name="worldgen-build", daemon=True)
        self._thread.start()
        return True

    def wait(self, timeout: float | None = None) -> JobState:
        """Block until the job ends (tests and headless use); returns its state."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.snapshot()

    def snapshot(self) -> JobState:
        """A copy of the state, safe to read from the UI thread."""
        with self._lock:
            return JobState(self.state.status, self.state.line, self.state.fraction, self.state.result)

    def _run(self, work) -> None:
        from worldgen_sim.errors import WorldgenError
        from worldgen_sim.progress import Progress

        try:
            result = work(Progress(stream=_ProgressSink(self)))
        except WorldgenError as exc:
            self._set(status="failed", line=str(exc), fraction=None)
        except Exception as exc:
            self._set(status="failed", line=f"{type(exc).__name__}: {exc}", fraction=None)
        else:
            self._set(status="done", line="done", fraction=1.0, result=result)

    def _set(self, **values) -> None:
        with self._lock:
            for key, value in values.items():
                setattr(self.state, key, value)


class _ProgressSink:
    """A text stream for ``Progress`` that keeps the last line and any "done/total" fraction."""

    def __init__(self, job: BuildJob) -> None:
        self.job = job

    def write(self, text: str) -> int:
        for line in text.splitlines():
            line = line.strip()
            if line:
                self.job._set(line=line.removeprefix("[worldgen] ").strip(), fraction=_fraction(line))
        return len(text)

    def flush(self) -> None:
        pass


def _fraction(line: str) -> float | None:
    """0.25 from a Progress line ending in ``: 5/20 (25%)``; None otherwise."""
    tail = line.rsplit(": ", 1)[-1].split(" ", 1)[0]
    done, _, total = tail.partition("/")
    if done.isdigit() and total.isdigit() and int(total) > 0:
        return min(1.0, int(done) / int(total))
    return None

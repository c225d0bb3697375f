"""The Worldgen window: ``omni.ui`` widgets bound to a :class:`~.form.BuildForm` and a :class:`~.form.BuildJob`.

No decision is made here: the form says what is wrong and what to build, the
job runs the build off the UI thread and holds its progress and errors; this
file only draws them, once per Kit frame.
"""

from __future__ import annotations

from pathlib import Path

import omni.kit.app
import omni.ui as ui

from .api import build, spawn
from .form import AGENT_PRESETS, BuildForm, BuildJob

__all__ = ["WorldgenWindow"]

_SCALE_MODES = ("auto", "camera_height", "scale")


class WorldgenWindow:
    """Input picker, key options, "Build and spawn", progress and errors."""

    def __init__(self) -> None:
        self.form = BuildForm()
        self.job = BuildJob()
        self._window = ui.Window("Worldgen", width=460, height=330)
        self._picker = None
        self._spawned = True
        with self._window.frame, ui.VStack(spacing=6):
            with ui.HStack(height=22):
                ui.Label("Input", width=110)
                self._input = ui.StringField()
                ui.Button("...", width=28, clicked_fn=self._browse)
            with ui.HStack(height=22):
                ui.Label("Output folder", width=110)
                self._out = ui.StringField()
            with ui.HStack(height=22):
                ui.Label("Metric scale from", width=110)
                self._scale_mode = ui.ComboBox(0, *_SCALE_MODES)
            with ui.HStack(height=22):
                ui.Label("Camera height [m]", width=110)
                self._camera_height = ui.FloatField()
                ui.Label("Scale [m/unit]", width=90)
                self._scale = ui.FloatField()
            with ui.HStack(height=22):
                ui.Label("Dynamic objects", width=110)
                self._dynamic = ui.CheckBox()
                ui.Label("Agent", width=50)
                self._agent = ui.ComboBox(AGENT_PRESETS.index(self.form.agent), *AGENT_PRESETS)
            self._button = ui.Button("Build and spawn", height=28, clicked_fn=self._build)
            self._progress = ui.ProgressBar(height=18)
            self._status = ui.Label("", word_wrap=True, height=60)
        self._camera_height.model.set_value(self.form.camera_height)
        self._scale.model.set_value(self.form.scale)
        stream = omni.kit.app.get_app().get_update_event_stream()
        self._tick = stream.create_subscription_to_pop(lambda _event: self._refresh(), name="worldgen window")

    def show(self) -> None:
        self._window.visible = True

    def destroy(self) -> None:
        self._tick = None
        if self._picker is not None:
            self._picker.hide()
        self._window.destroy()

    # -- bindings ---------------------------------------------------------------------------
    def _read_form(self) -> None:
        self.form.input_path = self._input.model.get_value_as_string().strip()
        self.form.out_dir = self._out.model.get_value_as_string().strip()
        self.form.scale_mode = _SCALE_MODES[self._scale_mode.model.get_item_value_model().get_value_as_int()]
        self.form.camera_height = self._camera_height.model.get_value_as_float()
        self.form.scale = self._scale.model.get_value_as_float()
        self.form.dynamic_objects = self._dynamic.model.get_value_as_bool()
        self.form.agent = AGENT_PRESETS[self._agent.model.get_item_value_model().get_value_as_int()]

    def _refresh(self) -> None:
        self._read_form()
        state = self.job.snapshot()
        problems = self.form.problems()
        self._button.enabled = not problems and not self.job.running
        if state.status == "done" and state.result is not None and not self._spawned:
            self._spawned = True  # the build ran on a worker thread; the stage is edited here, on Kit's
            try:
                self._status.text = f"spawned at {spawn(state.result).prim_path}"
            except Exception as exc:
                self._status.text = f"failed: {exc}"
            return
        if state.status == "idle":
            self._status.text = problems[0] if problems else f"ready: {self.form.kind()} -> {self.form.output()}"
        else:
            self._status.text = f"{state.status}: {state.line}"
        self._progress.model.set_value(state.fraction or 0.0)

    def _build(self) -> None:
        self._read_form()
        if self.form.problems():
            return
        form = BuildForm(**vars(self.form))  # the job keeps its own copy; the fields may change meanwhile
        self._spawned = False
        self.job.start(lambda progress: build(form.input_path, form.output(), overrides=form.overrides(),
                                              progress=progress))  # fmt: skip

    def _browse(self) -> None:
        try:
            from omni.kit.window.filepicker import FilePickerDialog
        except ImportError:
            self._status.text = "no file picker in this Kit app: type the path"
            return

        def chosen(filename: str, dirname: str) -> None:
            self._picker.hide()
            self._input.model.set_value(str(Path(dirname) / filename) if filename else dirname)

        self._picker = FilePickerDialog("Worldgen input: .ply, picture or RGB-D folder", apply_button_label="Use",
                                        click_apply_handler=chosen)  # fmt: skip
        self._picker.show()

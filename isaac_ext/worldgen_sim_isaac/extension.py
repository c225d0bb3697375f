"""Kit menu items over worldgen_sim: build a world from a PLY, spawn a world into the open stage.

This file is the only place that imports Kit. Everything it does is a call into
the Kit-free core (``worldgen_sim.build_world`` and
``worldgen_sim.exporters.stage_spawn.spawn_world``), which is tested on CPU
without Isaac Sim.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import carb
import omni.ext
import omni.kit.app
import omni.usd
from omni.kit.menu.utils import MenuItemDescription, add_menu_items, remove_menu_items

MENU = "Tools"


class WorldgenSimExtension(omni.ext.IExt):
    """Adds Tools > worldgen_sim > Build World from PLY... and Spawn World into Stage..."""

    def on_startup(self, ext_id: str) -> None:
        self._picker = None
        self._menu = [
            MenuItemDescription(
                name="worldgen_sim",
                sub_menu=[
                    MenuItemDescription(name="Build World from PLY...", onclick_fn=self._ask_build),
                    MenuItemDescription(name="Spawn World into Stage...", onclick_fn=self._ask_spawn),
                ],
            )
        ]
        add_menu_items(self._menu, MENU)

    def on_shutdown(self) -> None:
        remove_menu_items(self._menu, MENU)
        if self._picker is not None:
            self._picker.hide()
        self._picker = None

    # -- menu actions -------------------------------------------------------------------------
    def _ask_build(self) -> None:
        self._pick("Gaussian PLY to build a world from", [("*.ply", "Gaussian splat PLY")], self._build)

    def _ask_spawn(self) -> None:
        self._pick("world.usda to spawn", [("world.usda", "worldgen world"), ("*.usd*", "USD")], self._spawn)

    def _build(self, ply_path: str) -> None:
        out_dir = Path(ply_path).with_suffix("").with_name(Path(ply_path).stem + "_world")

        async def run() -> None:
            from worldgen_sim import WorldgenError, build_world

            carb.log_info(f"[worldgen_sim] building {out_dir} from {ply_path}")
            loop = asyncio.get_event_loop()
            try:
                # The build is CPU-heavy: keep Kit's UI responsive by running it off the main thread.
                result = await loop.run_in_executor(None, lambda: build_world(ply_path, out_dir))
            except WorldgenError as exc:
                carb.log_error(f"[worldgen_sim] {exc}")
                return
            self._spawn(str(result.world_usd))

        asyncio.ensure_future(run())

    def _spawn(self, world_usd: str) -> None:
        from worldgen_sim.exporters.stage_spawn import spawn_world

        stage = omni.usd.get_context().get_stage()
        if stage is None:
            carb.log_error("[worldgen_sim] no stage is open")
            return
        prim_path = spawn_world(stage, world_usd)
        carb.log_info(f"[worldgen_sim] spawned {world_usd} at {prim_path}")

    def _pick(self, title: str, filters: list[tuple[str, str]], on_chosen) -> None:
        from omni.kit.window.filepicker import FilePickerDialog

        def apply(filename: str, dirname: str) -> None:
            self._picker.hide()
            on_chosen(str(Path(dirname) / filename))

        if self._picker is not None:
            self._picker.hide()
        self._picker = FilePickerDialog(
            title,
            apply_button_label="Open",
            click_apply_handler=apply,
            item_filter_options=[f"{pattern} ({label})" for pattern, label in filters],
        )
        self._picker.show()

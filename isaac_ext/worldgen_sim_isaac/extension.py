"""The Kit extension: start, stop, and where Kit has ``omni.ui``, the Worldgen window and its menu item.

Only the Kit kernel is required (``omni.ext``, ``carb``); ``omni.ui``,
``omni.usd``, the menu and the file picker are optional dependencies in
``extension.toml``. Without them the extension still starts and offers the
headless API (:func:`worldgen_sim_isaac.build_and_spawn`); it says so in the log.
"""

from __future__ import annotations

import importlib.util

import carb
import omni.ext

__all__ = ["WorldgenSimExtension", "extension_state"]

MENU = "Tools"
_STATE = {"started": False, "stopped": False, "window": False, "menu": False, "reason": ""}


def _importable(name: str) -> bool:
    try:  # find_spec raises when a parent package (omni.kit.menu) is missing
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


def extension_state() -> dict:
    """What the last startup/shutdown did (read by ``make test-isaac``)."""
    return dict(_STATE)


class WorldgenSimExtension(omni.ext.IExt):
    """Adds Tools > Worldgen (the window) where Kit has a UI."""

    def on_startup(self, ext_id: str) -> None:
        self._window = None
        self._menu = None
        _STATE.update(started=True, stopped=False, window=False, menu=False)
        missing = [name for name in ("omni.ui", "omni.kit.menu.utils") if not _importable(name)]
        if missing:
            _STATE["reason"] = f"headless: {', '.join(missing)} not loaded; use worldgen_sim_isaac.build_and_spawn()"
            carb.log_info(f"[worldgen_sim] {_STATE['reason']}")
            return
        from omni.kit.menu.utils import MenuItemDescription, add_menu_items

        self._menu = [MenuItemDescription(name="Worldgen", onclick_fn=self._show_window)]
        add_menu_items(self._menu, MENU)
        _STATE.update(menu=True, reason="")

    def on_shutdown(self) -> None:
        if self._menu is not None:
            from omni.kit.menu.utils import remove_menu_items

            remove_menu_items(self._menu, MENU)
        if self._window is not None:
            self._window.destroy()
        self._window = self._menu = None
        _STATE.update(stopped=True, window=False, menu=False)

    def _show_window(self, *_args) -> None:
        if self._window is None:
            from .window import WorldgenWindow

            self._window = WorldgenWindow()
            _STATE["window"] = True
        self._window.show()

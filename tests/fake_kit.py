"""A recording stand-in for the slice of Kit the Worldgen window binds to (``omni.ui``, ``omni.kit.app``,
``omni.kit.menu.utils``, ``omni.ext``, ``carb``, ``omni.usd``), for CPU tests where Kit has no UI.

The Kit kernel that runs here (``isaacsim-kernel``, see ``make test-isaac``) has no ``omni.ui``, so the
window's binding code could otherwise never run before a user opens it in Isaac Sim. The stand-in follows
the documented signatures (omni.ui 2.x: widgets take their documented keyword arguments and expose
``.model``; value models ``get_value_as_*``/``set_value``; a ``ComboBox(index, *items)`` whose
``model.get_item_value_model()`` holds the index) and refuses any keyword it does not know, so a typo or a
wrong call in the window fails here as it would in Kit. It draws nothing; it records what was built so a
test can type into fields, click buttons and step frames.
"""

from __future__ import annotations

import sys
import types
import weakref

_LAYOUT_KWARGS = {"width", "height", "spacing", "name", "style", "visible", "enabled", "tooltip"}


class ValueModel:
    """``omni.ui.AbstractValueModel``'s read/write surface."""

    def __init__(self, value=None) -> None:
        self._value = value

    def set_value(self, value) -> None:
        self._value = value

    def get_value_as_string(self) -> str:
        return "" if self._value is None else str(self._value)

    def get_value_as_float(self) -> float:
        return float(self._value or 0.0)

    def get_value_as_int(self) -> int:
        return int(self._value or 0)

    def get_value_as_bool(self) -> bool:
        return bool(self._value)


class ComboModel:
    """``omni.ui.AbstractItemModel`` of a ``ComboBox``: the root value model holds the chosen index."""

    def __init__(self, index: int, items: tuple[str, ...]) -> None:
        self.items = items
        self._current = ValueModel(index)

    def get_item_value_model(self, item=None, column_id: int = 0) -> ValueModel:
        assert item is None and column_id == 0, "the window reads the combo's root value model"
        return self._current


class Widget:
    """A widget: checks its keyword arguments, keeps them as attributes, records itself."""

    extra_kwargs: frozenset[str] = frozenset()

    def __init__(self, *args, **kwargs) -> None:
        unknown = set(kwargs) - _LAYOUT_KWARGS - self.extra_kwargs
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unexpected keyword arguments {sorted(unknown)}")
        self.args = args
        self.enabled = True
        self.visible = True
        for key, value in kwargs.items():
            setattr(self, key, value)
        UI.created.append(self)


class Label(Widget):
    extra_kwargs = frozenset({"word_wrap", "alignment"})

    def __init__(self, text: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.text = text


class Button(Widget):
    extra_kwargs = frozenset({"clicked_fn"})

    def __init__(self, text: str = "", **kwargs) -> None:
        self.clicked_fn = None
        super().__init__(**kwargs)
        self.text = text

    def click(self) -> None:
        """What Kit does on a click: nothing when disabled."""
        if self.enabled and self.clicked_fn is not None:
            self.clicked_fn()


class _Field(Widget):
    default = None

    def __init__(self, model=None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.model = model if model is not None else ValueModel(self.default)


class StringField(_Field):
    default = ""


class FloatField(_Field):
    default = 0.0


class CheckBox(_Field):
    default = False


class ProgressBar(_Field):
    default = 0.0


class ComboBox(Widget):
    def __init__(self, index: int, *items: str, **kwargs) -> None:
        super().__init__(**kwargs)
        assert all(isinstance(item, str) for item in items), items
        self.model = ComboModel(index, items)


class _Stack(Widget):
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


class VStack(_Stack):
    pass


class HStack(_Stack):
    pass


class Window:
    """``omni.ui.Window(title, width=, height=)``: ``.frame`` is a context, ``.visible``, ``.destroy()``."""

    def __init__(self, title: str, *, width: int = 400, height: int = 300, **kwargs) -> None:
        unknown = set(kwargs) - {"flags", "visible", "dockPreference"}
        if unknown:
            raise TypeError(f"Window() got unexpected keyword arguments {sorted(unknown)}")
        self.title, self.width, self.height = title, width, height
        self.visible = kwargs.get("visible", True)
        self.destroyed = False
        self.frame = _Stack()
        UI.windows.append(self)

    def destroy(self) -> None:
        self.destroyed = True


class UI(types.ModuleType):
    """The ``omni.ui`` module."""

    created: list = []
    windows: list = []


class _Subscription:
    """Kit drops an event subscription when its last reference goes; the stream keeps it weakly."""

    def __init__(self, fn) -> None:
        self.fn = fn


class _EventStream:
    def __init__(self) -> None:
        self._subscriptions: list[weakref.ref] = []

    @property
    def subscriptions(self) -> list[_Subscription]:
        """The live subscriptions."""
        return [s for s in (ref() for ref in self._subscriptions) if s is not None]

    def create_subscription_to_pop(self, fn, *, name: str = "", order: int = 0) -> _Subscription:
        subscription = _Subscription(fn)
        self._subscriptions.append(weakref.ref(subscription))
        return subscription

    def pump(self) -> None:
        """One Kit frame: every live update subscription is called."""
        for subscription in self.subscriptions:
            subscription.fn(None)


class _App:
    def __init__(self) -> None:
        self.update = _EventStream()

    def get_update_event_stream(self) -> _EventStream:
        return self.update


class MenuItemDescription:
    def __init__(self, name: str = "", onclick_fn=None, **kwargs) -> None:
        self.name, self.onclick_fn = name, onclick_fn


class _UsdContext:
    def __init__(self) -> None:
        self.stage = None

    def get_stage(self):
        return self.stage


def install(monkeypatch) -> types.SimpleNamespace:
    """Put the stand-in modules into ``sys.modules`` (undone by ``monkeypatch``); returns their handles."""
    ui = UI("omni.ui")
    UI.created, UI.windows = [], []
    for cls in (Label, Button, StringField, FloatField, CheckBox, ProgressBar, ComboBox, VStack, HStack, Window):
        setattr(ui, cls.__name__, cls)
    app = _App()
    kit_app = types.ModuleType("omni.kit.app")
    kit_app.get_app = lambda: app
    menus: dict[str, list] = {}
    menu_utils = types.ModuleType("omni.kit.menu.utils")
    menu_utils.MenuItemDescription = MenuItemDescription
    menu_utils.add_menu_items = lambda items, menu: menus.setdefault(menu, []).extend(items)
    menu_utils.remove_menu_items = lambda items, menu: [menus[menu].remove(item) for item in items]
    ext = types.ModuleType("omni.ext")
    ext.IExt = type("IExt", (), {})
    carb = types.ModuleType("carb")
    log: list[str] = []
    carb.log_info = carb.log_warn = carb.log_error = log.append
    context = _UsdContext()
    usd = types.ModuleType("omni.usd")
    usd.get_context = lambda: context
    omni, kit, menu = (types.ModuleType(name) for name in ("omni", "omni.kit", "omni.kit.menu"))
    omni.ui, omni.ext, omni.usd, omni.kit = ui, ext, usd, kit
    kit.app, kit.menu, menu.utils = kit_app, menu, menu_utils
    for module in (omni, ui, ext, usd, kit, kit_app, menu, menu_utils, carb):
        module.__spec__ = types.SimpleNamespace(name=module.__name__)  # importlib.util.find_spec finds it
        monkeypatch.setitem(sys.modules, module.__name__, module)
    for name in [n for n in sys.modules if n.startswith("worldgen_sim_isaac")]:
        monkeypatch.delitem(sys.modules, name)  # re-imported against the stand-in
    return types.SimpleNamespace(ui=UI, app=app, menus=menus, usd_context=context, log=log)

"""A stand-in for `bpy.types.UILayout` that records what `draw()` calls and checks each call.

Background Blender never calls `draw()`, so tests call it with this recorder. Every call is
checked against Blender's own RNA description of UILayout. The function and its keyword
arguments must exist and icons must be valid. Each `prop()` must name a real property of its
data, and each `operator()` a registered operator that has the properties the caller sets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import bpy

LAYOUT_FUNCTIONS = bpy.types.UILayout.bl_rna.functions
ICONS = set(LAYOUT_FUNCTIONS["label"].parameters["icon"].enum_items.keys())


@dataclass
class Call:
    function: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    properties: dict[str, Any] = field(default_factory=dict)
    """Operator properties the draw code set on the returned operator properties."""


class OperatorProperties:
    """What `layout.operator()` returns; only the operator's own properties can be set."""

    def __init__(self, idname: str, call: Call) -> None:
        category, name = idname.split(".", 1)
        operator = getattr(getattr(bpy.ops, category), name)
        rna = operator.get_rna_type()
        object.__setattr__(self, "_names", set(rna.properties.keys()) - {"rna_type"})
        object.__setattr__(self, "_idname", idname)
        object.__setattr__(self, "_call", call)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._names:
            raise AssertionError(f"operator {self._idname} has no property {name!r}")
        self._call.properties[name] = value


class RecordingLayout:
    """Records calls; sub-layouts (row, column, box, split, panel) record into the same list."""

    def __init__(self, calls: list[Call] | None = None, *, open_panels: bool = True) -> None:
        object.__setattr__(self, "calls", [] if calls is None else calls)
        object.__setattr__(self, "open_panels", open_panels)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in bpy.types.UILayout.bl_rna.properties:
            raise AssertionError(f"UILayout has no attribute {name!r}")

    def _record(self, function: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call:
        if function not in LAYOUT_FUNCTIONS:
            raise AssertionError(
                f"UILayout has no function {function!r} in Blender {bpy.app.version_string}"
            )
        parameters = LAYOUT_FUNCTIONS[function].parameters.keys()
        for name in kwargs:
            if name not in parameters:
                raise AssertionError(f"UILayout.{function}() has no parameter {name!r}")
        icon = kwargs.get("icon")
        if icon is not None and icon not in ICONS:
            raise AssertionError(f"UILayout.{function}() got an unknown icon {icon!r}")
        call = Call(function, args, kwargs)
        self.calls.append(call)
        return call

    def _child(self) -> RecordingLayout:
        return RecordingLayout(self.calls, open_panels=self.open_panels)

    def row(self, **kwargs: Any) -> RecordingLayout:
        self._record("row", (), kwargs)
        return self._child()

    def column(self, **kwargs: Any) -> RecordingLayout:
        self._record("column", (), kwargs)
        return self._child()

    def box(self, **kwargs: Any) -> RecordingLayout:
        self._record("box", (), kwargs)
        return self._child()

    def split(self, **kwargs: Any) -> RecordingLayout:
        self._record("split", (), kwargs)
        return self._child()

    def panel(self, idname: str, **kwargs: Any) -> tuple[RecordingLayout, RecordingLayout | None]:
        self._record("panel", (idname,), kwargs)
        return self._child(), self._child() if self.open_panels else None

    def label(self, **kwargs: Any) -> None:
        self._record("label", (), kwargs)

    def separator(self, **kwargs: Any) -> None:
        self._record("separator", (), kwargs)

    def progress(self, **kwargs: Any) -> None:
        factor = kwargs.get("factor", 0.0)
        if not 0.0 <= factor <= 1.0:
            raise AssertionError(f"progress factor {factor} is outside 0..1")
        self._record("progress", (), kwargs)

    def prop(self, data: Any, property: str, **kwargs: Any) -> None:
        if property not in data.bl_rna.properties:
            raise AssertionError(f"{type(data).__name__} has no property {property!r}")
        self._record("prop", (data, property), kwargs)

    def operator(self, idname: str, **kwargs: Any) -> OperatorProperties:
        call = self._record("operator", (idname,), kwargs)
        return OperatorProperties(idname, call)

    # Queries over what was drawn.

    def texts(self) -> list[str]:
        return [call.kwargs.get("text", "") for call in self.calls if call.function == "label"]

    def text(self) -> str:
        return "\n".join(self.texts())

    def operators(self) -> list[Call]:
        return [call for call in self.calls if call.function == "operator"]

    def operator_ids(self) -> list[str]:
        return [call.args[0] for call in self.operators()]

    def prop_paths(self) -> list[str]:
        return [call.args[1] for call in self.calls if call.function == "prop"]

    def of(self, function: str) -> list[Call]:
        return [call for call in self.calls if call.function == function]


class PanelStandIn:
    """Something with a `layout`, to pass as `self` to a Panel's or preferences' draw()."""

    def __init__(self, layout: RecordingLayout, target: Any = None) -> None:
        self.layout = layout
        self._target = target

    def __getattr__(self, name: str) -> Any:
        if self._target is None:
            raise AttributeError(name)
        return getattr(self._target, name)

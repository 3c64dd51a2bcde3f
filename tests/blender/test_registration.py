"""Register and unregister the add-on from the source tree in real Blender.

The add-on is enabled through `addon_utils`, the way Blender's preferences do, from a local
extension repository that points at this repository, so the module gets its real
`bl_ext.<repo>.thrixel_blender` name. While `register()` runs, every
`bpy.utils.register_class` and `bpy.app.timers.register` call is recorded. The tests then check:

- every registered class follows the naming scheme (operators `THRIXEL_OT_<name>` with id
  `thrixel.<name>`, panels `VIEW3D_PT_thrixel_<name>` in the "Thrixel" sidebar tab, property
  groups `THRIXEL_PG_`, lists `THRIXEL_UL_`, menus `THRIXEL_MT_`, preferences
  `THRIXEL_AddonPreferences` with `bl_idname` equal to the add-on module);
- `unregister()` leaves no class, timer, handler or thread behind, and no property on any RNA
  struct (ID types such as Scene, and others such as Bone or PoseBone);
- register, unregister and register again works.

Every failure names the rule and the class or file that broke it. Draw handlers and msgbus
subscriptions cannot be listed through Blender's API, so tests/unit/test_architecture.py checks
statically that every module adding one also removes it.
"""

from __future__ import annotations

import ast
import inspect
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

import pytest

# Keeps configuration out of the user's own Blender folders when no conftest has set this yet.
# It has to happen before the first `import bpy`.
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="thrixel-blender-user-"))

import bpy  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_ID = "thrixel_blender"
# Name of the local extension repository this file adds when no repository points here yet.
SOURCE_REPO_MODULE = "thrixel_source_tree"


# --------------------------------------------------------------------------------------------
# What the add-on leaves in Blender


# Source files by object id. The file is looked up while the module is still imported, because
# addon_utils removes a module from sys.modules when its register() fails.
_sources: dict[int, str] = {}


def source_path(path: Path) -> str:
    """Return `path` relative to the repository when it is inside it."""
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def source_of(obj: object) -> str:
    """Return the file that defines `obj`, relative to the repository when it is inside it."""
    if id(obj) in _sources:
        return _sources[id(obj)]
    try:
        path = Path(inspect.getsourcefile(obj) or "")  # type: ignore[arg-type]
    except TypeError:
        return "unknown file"
    source = source_path(path)
    _sources[id(obj)] = source
    return source


def describe(obj: object) -> str:
    name = getattr(obj, "__qualname__", None) or repr(obj)
    return f"{name} ({source_of(obj)})"


def package_modules(module_name: str) -> list[ModuleType]:
    return [
        module
        for name, module in list(sys.modules.items())
        if isinstance(module, ModuleType)
        and (name == module_name or name.startswith(module_name + "."))
    ]


def package_members(module_name: str) -> Iterator[object]:
    """Yield the module-level objects defined in the add-on package and its submodules."""
    for module in package_modules(module_name):
        for value in list(vars(module).values()):
            if getattr(value, "__module__", "").startswith(module_name):
                yield value


def registered_package_classes(module_name: str) -> list[type]:
    """Return the module-level bpy classes of the package that Blender reports as registered.

    This also finds classes registered through a name bound before the recording started,
    such as `from bpy.utils import register_class`.
    """
    return [
        value
        for value in package_members(module_name)
        if inspect.isclass(value)
        and issubclass(value, bpy.types.bpy_struct)
        and getattr(value, "is_registered", False)
    ]


def package_functions(module_name: str) -> list[Callable[..., Any]]:
    """Return module-level functions and the functions of module-level classes."""
    functions: list[Callable[..., Any]] = []
    for value in package_members(module_name):
        if isinstance(value, FunctionType):
            functions.append(value)
        elif inspect.isclass(value):
            for member in vars(value).values():
                if isinstance(member, staticmethod | classmethod):
                    member = member.__func__
                if isinstance(member, FunctionType):
                    functions.append(member)
    return functions


def struct_properties() -> dict[str, set[str]]:
    """Return the RNA property names of every struct in bpy.types (Scene, Bone, PoseBone, ...)."""
    properties: dict[str, set[str]] = {}
    for name in dir(bpy.types):
        value = getattr(bpy.types, name, None)
        if inspect.isclass(value) and issubclass(value, bpy.types.bpy_struct):
            rna = getattr(value, "bl_rna", None)
            if rna is not None:
                properties[name] = set(rna.properties.keys())
    return properties


def added_properties(before: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Return (struct, property) for each property defined since `before` on a struct it had.

    A property added to a base struct such as ID also shows on every struct derived from it, so
    only the struct that defines it is returned.
    """
    now = struct_properties()
    added = {
        (type_name, prop)
        for type_name, names in now.items()
        if type_name in before
        for prop in names - before[type_name]
    }
    defined: list[tuple[str, str]] = []
    for type_name, prop in sorted(added):
        base = getattr(bpy.types, type_name).bl_rna.base
        if base is None or (base.identifier, prop) not in added:
            defined.append((type_name, prop))
    return defined


def property_assignments(module_name: str, prop: str) -> list[str]:
    """Return file:line of each `X.<prop> = ...` or `setattr(X, "<prop>", ...)` in the package."""
    places: list[str] = []
    for module in package_modules(module_name):
        path = Path(getattr(module, "__file__", None) or "")
        if path.suffix != ".py" or not path.is_file():
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            targets: list[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AnnAssign):
                targets = [node.target]
            assigned = any(
                isinstance(target, ast.Attribute) and target.attr == prop for target in targets
            )
            set_by_name = (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", "") == "setattr"
                and len(node.args) > 1
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value == prop
            )
            if assigned or set_by_name:
                places.append(f"{source_path(path)}:{node.lineno}")
    return sorted(places)


def handler_lists() -> dict[str, list[Any]]:
    return {
        name: list(value)
        for name in dir(bpy.app.handlers)
        if isinstance(value := getattr(bpy.app.handlers, name), list)
    }


@dataclass
class BlenderState:
    """What the add-on can leave behind, taken before it registers."""

    type_names: set[str]
    properties: dict[str, set[str]]
    handlers: dict[str, list[Any]]
    threads: set[threading.Thread]

    @classmethod
    def take(cls) -> BlenderState:
        return cls(
            type_names=set(dir(bpy.types)),
            properties=struct_properties(),
            handlers=handler_lists(),
            threads=set(threading.enumerate()),
        )


@dataclass
class Registration:
    """What one `register()` call did, recorded while it ran."""

    module_name: str
    classes: list[type] = field(default_factory=list)
    timers: list[Callable[..., Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    module: ModuleType | None = None
    property_sources: dict[str, list[str]] = field(default_factory=dict)
    """file:line of the assignments of each property `register()` added, found in the source."""


def leftovers(before: BlenderState, registration: Registration) -> list[str]:
    """Return one message per thing that is still there after `unregister()`."""
    problems: list[str] = []
    where = "after unregister()"

    classes = registration.classes + registered_package_classes(registration.module_name)
    for cls in dict.fromkeys(classes):
        if getattr(cls, "is_registered", False):
            problems.append(f"class rule: {describe(cls)} is still registered {where}")
    for name in sorted(set(dir(bpy.types)) - before.type_names):
        problems.append(f"class rule: bpy.types.{name} still exists {where}")

    for type_name, prop in added_properties(before.properties):
        places = registration.property_sources.get(prop) or ["no assignment found in the package"]
        problems.append(
            f"property rule: bpy.types.{type_name}.{prop} is still defined {where} "
            f"(set at {', '.join(places)})"
        )

    timer_candidates = registration.timers + package_functions(registration.module_name)
    reported: set[int] = set()
    for function in timer_candidates:
        if id(function) in reported:
            continue
        if bpy.app.timers.is_registered(function):
            reported.add(id(function))
            problems.append(
                f"timer rule: {describe(function)} is still registered with bpy.app.timers {where}"
            )

    for list_name, current in handler_lists().items():
        previous = before.handlers.get(list_name, [])
        for handler in current:
            if not any(handler is old for old in previous):
                problems.append(
                    f"handler rule: {describe(handler)} is still in "
                    f"bpy.app.handlers.{list_name} {where}"
                )

    for thread in threading.enumerate():
        if thread not in before.threads and thread.is_alive():
            target = getattr(thread, "_target", None)
            origin = describe(target) if target is not None else type(thread).__qualname__
            problems.append(f"thread rule: thread {thread.name!r} ({origin}) still runs {where}")
    return problems


def remove_leftovers(before: BlenderState, registration: Registration) -> None:
    """Undo what `unregister()` left, so later tests start from a clean Blender."""
    classes = registration.classes + registered_package_classes(registration.module_name)
    for cls in reversed(list(dict.fromkeys(classes))):
        if getattr(cls, "is_registered", False):
            bpy.utils.unregister_class(cls)
    for function in registration.timers + package_functions(registration.module_name):
        if bpy.app.timers.is_registered(function):
            bpy.app.timers.unregister(function)
    for list_name, current in handler_lists().items():
        previous = before.handlers.get(list_name, [])
        for handler in current:
            if not any(handler is old for old in previous):
                getattr(bpy.app.handlers, list_name).remove(handler)
    for type_name, prop in added_properties(before.properties):
        delattr(getattr(bpy.types, type_name), prop)


# --------------------------------------------------------------------------------------------
# Naming scheme

OPERATOR_PREFIX = "THRIXEL_OT_"
PANEL_PREFIX = "VIEW3D_PT_thrixel_"
PREFERENCES_CLASS = "THRIXEL_AddonPreferences"
PREFIXES: tuple[tuple[str, str], ...] = (
    ("PropertyGroup", "THRIXEL_PG_"),
    ("UIList", "THRIXEL_UL_"),
    ("Menu", "THRIXEL_MT_"),
)


def is_identifier_suffix(text: str) -> bool:
    return bool(text) and text.isidentifier() and text == text.lower()


def operator_violations(cls: type) -> list[str]:
    where = describe(cls)
    name = cls.__name__
    idname = getattr(cls, "bl_idname", "")
    suffix = name.removeprefix(OPERATOR_PREFIX)
    if not name.startswith(OPERATOR_PREFIX) or not is_identifier_suffix(suffix):
        problems = [
            f"operator naming rule: {where} must be named {OPERATOR_PREFIX}<lower_case_name>"
        ]
        if not idname.startswith("thrixel."):
            problems.append(
                f"operator naming rule: {where} has bl_idname {idname!r}, expected 'thrixel.<name>'"
            )
        return problems
    expected = f"thrixel.{suffix}"
    if idname != expected:
        return [f"operator naming rule: {where} has bl_idname {idname!r}, expected {expected!r}"]
    if getattr(bpy.ops.thrixel, suffix, None) is None:
        return [f"operator naming rule: {where} is not reachable as bpy.ops.{expected}"]
    return []


def panel_violations(cls: type, panel_ids: set[str]) -> list[str]:
    where = describe(cls)
    name = cls.__name__
    problems: list[str] = []
    if not name.startswith(PANEL_PREFIX) or not is_identifier_suffix(name[len(PANEL_PREFIX) :]):
        problems.append(f"panel naming rule: {where} must be named {PANEL_PREFIX}<lower_case_name>")
    if (idname := getattr(cls, "bl_idname", name)) != name:
        problems.append(f"panel naming rule: {where} has bl_idname {idname!r}, expected {name!r}")
    if (space := getattr(cls, "bl_space_type", None)) != 'VIEW_3D':
        problems.append(
            f"panel placement rule: {where} has bl_space_type {space!r}, expected 'VIEW_3D'"
        )
    parent = getattr(cls, "bl_parent_id", "")
    category = getattr(cls, "bl_category", None)
    if parent:
        if parent not in panel_ids:
            problems.append(
                f"panel placement rule: {where} has bl_parent_id {parent!r}, "
                "which is not one of the add-on's panels"
            )
        if category not in (None, "", "Thrixel"):
            problems.append(
                f"panel placement rule: {where} has bl_category {category!r}, expected 'Thrixel'"
            )
    elif category != "Thrixel":
        problems.append(
            f"panel placement rule: {where} has bl_category {category!r}, expected 'Thrixel'"
        )
    return problems


def naming_violations(cls: type, module_name: str, panel_ids: set[str]) -> list[str]:
    """Return one message per naming rule that `cls` breaks."""
    where = describe(cls)
    if issubclass(cls, bpy.types.Operator):
        return operator_violations(cls)
    if issubclass(cls, bpy.types.Panel):
        return panel_violations(cls, panel_ids)
    if issubclass(cls, bpy.types.AddonPreferences):
        problems = []
        if cls.__name__ != PREFERENCES_CLASS:
            problems.append(f"preferences naming rule: {where} must be named {PREFERENCES_CLASS}")
        if (idname := getattr(cls, "bl_idname", None)) != module_name:
            problems.append(
                f"preferences naming rule: {where} has bl_idname {idname!r}; expected the "
                f"add-on module {module_name!r} (use __package__)"
            )
        return problems
    for base_name, prefix in PREFIXES:
        if not issubclass(cls, getattr(bpy.types, base_name)):
            continue
        if not cls.__name__.startswith(prefix) or cls.__name__ == prefix:
            return [f"naming rule: {where} is a {base_name} and must be named {prefix}<name>"]
        idname = getattr(cls, "bl_idname", cls.__name__)
        if base_name == "Menu" and idname != cls.__name__:
            return [f"naming rule: {where} has bl_idname {idname!r}, expected {cls.__name__!r}"]
        return []
    if not cls.__name__.startswith("THRIXEL_"):
        return [f"naming rule: {where} must carry the THRIXEL_ prefix"]
    return []


# --------------------------------------------------------------------------------------------
# Enabling and disabling under recording


def source_repo_module() -> tuple[str, Callable[[], None]]:
    """Return the module name of a local repository that points at this repository.

    Reuses a repository another fixture added for the same folder; otherwise adds one and
    returns a function that removes it again.
    """
    repos = bpy.context.preferences.extensions.repos
    for repo in repos:
        if repo.use_custom_directory and Path(repo.directory).resolve() == REPO_ROOT:
            return repo.module, lambda: None
    repo = repos.new(
        name="Thrixel source tree",
        module=SOURCE_REPO_MODULE,
        custom_directory=str(REPO_ROOT),
        source='USER',
    )

    def remove() -> None:
        repos.remove(repo)

    return repo.module, remove


def enable_recording(module_name: str, before: dict[str, set[str]]) -> Registration:
    """Enable the add-on with `addon_utils` and record what its `register()` registers.

    `before` contains the struct properties taken before, to find the ones `register()` adds.
    """
    import addon_utils

    registration = Registration(module_name)
    register_class = bpy.utils.register_class
    register_timer = bpy.app.timers.register

    def record_class(cls: type) -> None:
        source_of(cls)
        registration.classes.append(cls)
        register_class(cls)

    def record_timer(function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        source_of(function)
        registration.timers.append(function)
        register_timer(function, *args, **kwargs)

    def record_error(error: BaseException) -> None:
        registration.errors.append(f"{type(error).__name__}: {error}")

    bpy.utils.register_class = record_class
    bpy.app.timers.register = record_timer
    try:
        registration.module = addon_utils.enable(
            module_name, default_set=True, handle_error=record_error
        )
    finally:
        bpy.utils.register_class = register_class
        bpy.app.timers.register = register_timer

    for cls in registered_package_classes(module_name):
        source_of(cls)
        if cls not in registration.classes:
            registration.classes.append(cls)
    for function in package_functions(module_name):
        source_of(function)
    # Looked up while the package is imported, because unregister() can take it out of
    # sys.modules.
    for _type_name, prop in added_properties(before):
        registration.property_sources[prop] = property_assignments(module_name, prop)
    return registration


def disable(module_name: str) -> list[str]:
    """Disable the add-on and return the errors its `unregister()` raised."""
    import addon_utils

    errors: list[str] = []

    def record_error(error: BaseException) -> None:
        errors.append(f"{type(error).__name__}: {error}")

    addon_utils.disable(module_name, default_set=True, handle_error=record_error)
    return errors


@dataclass
class Cycle:
    """Results of register, unregister, register again and unregister again."""

    module_name: str
    first: Registration
    first_unregister_errors: list[str]
    first_leftovers: list[str]
    second: Registration
    second_unregister_errors: list[str]
    second_leftovers: list[str]


@pytest.fixture(scope="module")
def cycle() -> Iterator[Cycle]:
    import addon_utils

    # Another fixture may have enabled a copy, from this tree or installed. Two copies would
    # register the same class names, so each is disabled here and enabled again at the end.
    enabled_elsewhere = [
        name
        for name in bpy.context.preferences.addons.keys()
        if name == PACKAGE_ID or name.endswith(f".{PACKAGE_ID}")
    ]
    for name in enabled_elsewhere:
        disable(name)

    repo_module, remove_repo = source_repo_module()
    module_name = f"bl_ext.{repo_module}.{PACKAGE_ID}"
    try:
        before = BlenderState.take()
        first = enable_recording(module_name, before.properties)
        first_unregister_errors = disable(module_name) if first.module else []
        first_leftovers = leftovers(before, first)
        remove_leftovers(before, first)

        before = BlenderState.take()
        second = enable_recording(module_name, before.properties)
        second_unregister_errors = disable(module_name) if second.module else []
        second_leftovers = leftovers(before, second)
        remove_leftovers(before, second)

        yield Cycle(
            module_name,
            first,
            first_unregister_errors,
            first_leftovers,
            second,
            second_unregister_errors,
            second_leftovers,
        )
    finally:
        remove_repo()
        for name in enabled_elsewhere:
            addon_utils.enable(name, default_set=True)


def fail_on(problems: list[str], heading: str) -> None:
    """Fail with one line per problem; pytest's own repr of the list would hide most of them."""
    if problems:
        pytest.fail(heading + "\n" + "\n".join(problems), pytrace=False)


# --------------------------------------------------------------------------------------------
# Tests


def test_register_raises_no_error(cycle: Cycle) -> None:
    fail_on(cycle.first.errors, f"enabling {cycle.module_name} failed:")
    assert cycle.first.module is not None, (
        f"addon_utils.enable({cycle.module_name!r}) returned None"
    )
    assert cycle.first.classes, f"register() of {cycle.module_name} registered no class"


def test_registered_classes_follow_naming(cycle: Cycle) -> None:
    classes = cycle.first.classes
    assert classes, f"register() of {cycle.module_name} registered no class"
    panel_ids = {
        getattr(cls, "bl_idname", cls.__name__)
        for cls in classes
        if issubclass(cls, bpy.types.Panel)
    }
    problems = [
        problem
        for cls in classes
        for problem in naming_violations(cls, cycle.module_name, panel_ids)
    ]
    fail_on(problems, "registered classes break the naming scheme:")


def test_unregister_raises_no_error(cycle: Cycle) -> None:
    fail_on(cycle.first_unregister_errors, f"disabling {cycle.module_name} failed:")


def test_unregister_leaves_nothing_behind(cycle: Cycle) -> None:
    assert cycle.first.module is not None, "register() failed; see test_register_raises_no_error"
    fail_on(cycle.first_leftovers, "unregister() left these behind:")


def test_register_again_after_unregister(cycle: Cycle) -> None:
    fail_on(cycle.second.errors, f"enabling {cycle.module_name} a second time failed:")
    assert cycle.second.module is not None, "the second addon_utils.enable() returned None"
    first_names = sorted(cls.__name__ for cls in cycle.first.classes)
    second_names = sorted(cls.__name__ for cls in cycle.second.classes)
    assert second_names == first_names, "the second register() registered other classes"
    fail_on(cycle.second_unregister_errors, "the second unregister() failed:")
    fail_on(cycle.second_leftovers, "the second unregister() left these behind:")

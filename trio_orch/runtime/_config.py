"""Typed, layered configuration: an attrs schema filled from files, the environment and mappings.

:class:`ConfigManager` builds one instance of the schema from its sources, in increasing
priority: the schema's defaults < files (in the given order) < environment variables <
explicit mappings < values :meth:`~ConfigManager.set` at run time.  Each source is flattened
against the schema (a key that is no field of the schema is a problem, with a "did you
mean"), the layers are merged key by key, and every value is converted to its field's type
through cattrs and checked by the field's attrs validators.  Every problem of every source
is collected and raised at once as one :class:`~trio_orch.ConfigError`, each with its dotted
key, its source (``file:line`` where the format or a scan gives the line, or the variable's
name) and the offending value.
"""

from __future__ import annotations

import json
import os
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeGuard, TypeVar, cast, final

import attrs
import trio

from trio_orch._exceptions import ConfigError, ConfigProblem
from trio_orch._log import get_logger
from trio_orch._validate import check_instance, check_nonempty_str, check_number
from trio_orch.events import EventBus
from trio_orch.runtime._config_sources import Key, Source, dump, format_of, read_env, read_file
from trio_orch.runtime._runtime_events import ConfigReloaded, ConfigReloadFailed, emit

if TYPE_CHECKING:
    from collections.abc import Sequence

    import cattrs


T = TypeVar("T")

_logger = get_logger("runtime")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_CONTAINERS = (list, tuple, dict, set, frozenset)


@attrs.frozen
class _Value:
    value: Any
    source: str
    textual: bool


def _make_converter() -> cattrs.Converter:
    import cattrs

    converter = cattrs.Converter(detailed_validation=True)

    def to_bool(value: Any, _: type) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        msg = "expected a bool (true/false, yes/no, on/off, 1/0)"
        raise ValueError(msg)

    def to_int(value: Any, _: type) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        msg = "expected an int"
        raise ValueError(msg)

    def to_float(value: Any, _: type) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        msg = "expected a number"
        raise ValueError(msg)

    def to_str(value: Any, _: type) -> str:
        if isinstance(value, str):
            return value
        msg = "expected a str"
        raise ValueError(msg)

    converter.register_structure_hook(bool, to_bool)
    converter.register_structure_hook(int, to_int)
    converter.register_structure_hook(float, to_float)
    converter.register_structure_hook(str, to_str)
    return converter


def _fields(cls: type) -> dict[str, attrs.Attribute[Any]]:
    """The init fields of an attrs class by their config key (the ``__init__`` name)."""
    attrs.resolve_types(cls)
    return {(a.alias or a.name): a for a in attrs.fields(cls) if a.init}


def _is_table(tp: Any) -> TypeGuard[type]:
    """True for an attrs class: a table of the schema."""
    return isinstance(tp, type) and attrs.has(tp)


def _dotted(key: Key) -> str:
    return ".".join(key)


def _leaf_error(exc: Exception) -> str:
    """A short message for a failed conversion (cattrs' detailed errors flattened)."""
    import cattrs

    if isinstance(exc, cattrs.BaseValidationError):
        return "; ".join(cattrs.transform_error(exc, path="value"))
    return str(exc) or type(exc).__name__


@final
@attrs.define(eq=False, repr=False, init=False)
class ConfigManager(Generic[T]):
    """Load and validate settings of type ``schema`` from layered sources, when built.

    ::

        @attrs.frozen
        class Db:
            host: str = "localhost"
            port: int = attrs.field(default=5432, validator=attrs.validators.gt(0))

        @attrs.frozen
        class Settings:
            debug: bool = False
            db: Db = Db()

        config = ConfigManager(Settings, files=["app.toml"], env_prefix="APP_")
        config.settings.db.port        # typed
        config.get("db.port"); config.set("db.port", 6543); config.has("db.host")
        config.save("effective.yaml")

    Args:
        schema: an attrs class; nested attrs classes are tables (sections).  Fields without
            a default must be given by some source.
        files: paths read in order, later ones overriding earlier ones; the format comes
            from the suffix (``.json``, ``.toml``, ``.yaml``/``.yml``, ``.ini``/``.cfg``).
            A missing file is a problem.
        env_prefix: variables starting with it (the prefix includes its trailing
            underscore) set keys: ``APP_DB__PORT=6543`` sets ``db.port`` (``__`` nests,
            names are matched in lower case).  A prefixed variable that names no key is a
            problem.  ``None``: the environment is not read.
        mappings: nested mappings applied last, in order; a key may also be dotted
            (``{"db.port": 1}``).
        env: the environment to read (default: ``os.environ``).

    Raises:
        TypeError: ``schema`` is not an attrs class, or an argument has the wrong type.
        ConfigError: the sources do not make valid settings; every problem is listed.

    Strings from the environment and from INI files are converted to the field's type:
    ``true/false``, ``yes/no``, ``on/off``, ``1/0`` for bools, decimal text for numbers,
    JSON text for lists, tuples, sets and mappings.  Other formats must give the right
    type (a JSON string is no int); ints are accepted for floats.

    Building (and :meth:`reload`) reads the files with blocking I/O: configuration files are
    small and read once at start-up; :meth:`watch` reads them in a worker thread.
    """

    _schema: type[T]
    _files: tuple[Path, ...]
    _env_prefix: str | None
    _mappings: tuple[Mapping[str, Any], ...]
    _env: Mapping[str, str]
    _converter: cattrs.Converter
    _settings: T
    _sources: dict[Key, str]
    _overrides: dict[Key, _Value]
    _read: tuple[list[Source], list[ConfigProblem]]

    def __init__(
        self,
        schema: type[T],
        *,
        files: Sequence[str | os.PathLike[str]] = (),
        env_prefix: str | None = "APP_",
        mappings: Sequence[Mapping[str, Any]] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        if not _is_table(cast("object", schema)):
            msg = f"schema must be an attrs class, got {schema!r}"
            raise TypeError(msg)
        if isinstance(files, str | os.PathLike) or not all(
            isinstance(f, str | os.PathLike) for f in files
        ):
            msg = f"files must be a sequence of paths, got {files!r}"
            raise TypeError(msg)
        if env_prefix is not None:
            check_nonempty_str("env_prefix", env_prefix)
        if isinstance(mappings, Mapping) or not all(isinstance(m, Mapping) for m in mappings):
            msg = f"mappings must be a sequence of mappings, got {mappings!r}"
            raise TypeError(msg)
        self._schema = schema
        self._files = tuple(Path(f) for f in files)
        self._env_prefix = env_prefix
        self._mappings = tuple(mappings)
        self._env = os.environ if env is None else env
        self._converter = _make_converter()
        self._overrides = {}
        self._read = self._read_all()
        self._settings, self._sources = self._build(self._read)

    def __repr__(self) -> str:
        return f"<ConfigManager {self._schema.__qualname__} from {len(self._files)} files>"

    # --- reading ----------------------------------------------------------------------------

    @property
    def schema(self) -> type[T]:
        """The schema class."""
        return self._schema

    @property
    def settings(self) -> T:
        """The current settings: an instance of the schema."""
        return self._settings

    @property
    def files(self) -> tuple[Path, ...]:
        """The files read, in order."""
        return self._files

    def get(self, key: str) -> Any:
        """The value of the dotted ``key`` (a table's key gives the nested instance).

        Raises:
            ConfigError: ``key`` names no field of the schema (with a "did you mean").
        """
        value: Any = self._settings
        for part in self._check_key(key):
            value = getattr(value, _fields(type(value))[part].name)
        return value

    def has(self, key: str) -> bool:
        """True if the dotted ``key`` names a field or a table of the schema.

        Raises:
            TypeError: ``key`` is not a str.
        """
        try:
            self._check_key(key)
        except ConfigError:
            return False
        return True

    def source_of(self, key: str) -> str:
        """Where the value of the dotted ``key`` came from (``"defaults"`` if no source set it).

        For a table, the source of its most recently layered key.

        Raises:
            ConfigError: ``key`` names no field of the schema.
        """
        parts = self._check_key(key)
        found = [s for k, s in self._sources.items() if k[: len(parts)] == parts]
        return found[-1] if found else "defaults"

    # --- changing ---------------------------------------------------------------------------

    def set(self, key: str, value: Any) -> None:
        """Set the dotted ``key`` to ``value``, converted and validated like a source's value.

        The value stays above every source, also across :meth:`reload`.  A table's key
        takes a mapping or an instance of its class.  No file is read again (the sources
        read last are used).  Sync; not a checkpoint.

        Raises:
            ConfigError: unknown key, or the value is invalid; nothing changes then.
        """
        parts = self._check_key(key)
        if attrs.has(type(value)):
            value = self._converter.unstructure(value)
        flat: dict[Key, _Value] = {}
        problems: list[ConfigProblem] = []
        if self._is_table_key(parts):
            if not isinstance(value, Mapping):
                message = f"must be a table of keys, got {value!r}"
                raise ConfigError([ConfigProblem(key, "set()", value, message)])
            self._flatten(value, self._table_at(parts), parts, "set()", False, flat, problems)
        else:
            flat[parts] = _Value(value, "set()", False)
        if problems:
            raise ConfigError(problems)
        overrides = {**self._overrides, **flat}
        old = self._overrides
        self._overrides = overrides
        try:
            self._settings, self._sources = self._build(self._read)
        except ConfigError:
            self._overrides = old
            raise

    def reload(self) -> bool:
        """Read every source again; on success replace the settings and return whether they changed.

        Raises:
            ConfigError: the sources do not make valid settings; the current ones are kept.
        """
        return self._replace(self._read_all())

    def _replace(self, read: tuple[list[Source], list[ConfigProblem]]) -> bool:
        settings, sources = self._build(read)
        changed = settings != self._settings
        self._settings, self._sources, self._read = settings, sources, read
        return changed

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the current settings to ``path`` in the format of its suffix.

        Reading the file back (``ConfigManager(schema, files=[path], env_prefix=None)``)
        gives equal settings.  TOML and INI cannot hold ``None``: such keys are left out
        (they read back as their default).  Written with blocking I/O (a small file).

        Raises:
            ConfigError: the suffix is no known format, or its writer is not installed.
            OSError: the file cannot be written.
        """
        target = Path(path)
        kind = format_of(target)
        if kind is None:
            message = f"unknown file format {target.suffix!r}"
            raise ConfigError([ConfigProblem("", str(target), None, message)])
        data = self._converter.unstructure(self._settings)
        tables = [k for k in self._all_keys() if self._is_table_key(k)]
        target.write_text(dump(data, kind, str(target), tables), encoding="utf-8")

    async def watch(
        self,
        *,
        interval: float = 1.0,
        bus: EventBus | None = None,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Reload whenever a file's modification time or size changes; runs until cancelled.

        Start it in a nursery (``await nursery.start(config.watch)``;
        :func:`trio_orch.open_orchestrator` does with ``config_watch_interval=``, on its
        bus).  Files are polled every ``interval`` seconds (``trio.Path.stat``) and read
        again in a worker thread.  A reload that fails keeps the current settings; it is
        logged (``"trio_orch.runtime.config_reload_failed"``) and published on ``bus`` as
        :class:`~trio_orch.ConfigReloadFailed`; one that changes the settings is published
        as :class:`~trio_orch.ConfigReloaded`.

        Raises:
            ValueError: ``interval`` is not > 0.
            TypeError: ``bus`` is not an EventBus.

        Cancellation:
            Stops watching; never leaves the settings half-changed (they are replaced in
            one assignment, in the trio thread).
        """
        check_number("interval", interval, strict=True)
        check_instance("bus", bus, EventBus, "an EventBus", allow_none=True)
        stamps = await self._stamps()
        task_status.started()
        while True:
            await trio.sleep(interval)
            current = await self._stamps()
            if current == stamps:
                continue
            stamps = current
            read = await trio.to_thread.run_sync(self._read_all)
            try:
                changed = self._replace(read)
            except ConfigError as exc:
                _logger.warning(
                    "trio_orch.runtime.config_reload_failed", problems=len(exc.problems)
                )
                emit(bus, ConfigReloadFailed(error=exc))
                continue
            if changed:
                emit(bus, ConfigReloaded(files=tuple(str(f) for f in self._files)))

    async def _stamps(self) -> list[tuple[int, int] | None]:  # noqa: ASYNC910 - watch() sleeps between calls
        stamps: list[tuple[int, int] | None] = []
        for file in self._files:
            try:
                stat = await trio.Path(file).stat()
            except OSError:
                stamps.append(None)
            else:
                stamps.append((stat.st_mtime_ns, stat.st_size))
        return stamps  # noqa: ASYNC910

    # --- building ---------------------------------------------------------------------------

    def _read_all(self) -> tuple[list[Source], list[ConfigProblem]]:
        sources = [read_file(f) for f in self._files]
        if self._env_prefix is not None:
            sources.append(read_env(self._env, self._env_prefix))
        sources.extend(Source(f"mappings[{i}]", _undot(m)) for i, m in enumerate(self._mappings))
        problems = [p for s in sources for p in s.problems]
        return sources, problems

    def _build(self, read: tuple[list[Source], list[ConfigProblem]]) -> tuple[T, dict[Key, str]]:
        sources, problems = read[0], list(read[1])  # read may be built again (set)
        merged: dict[Key, _Value] = {}
        self._defaults(self._schema, (), merged, problems)
        for source in sources:
            if source.data is None:
                continue
            flat: dict[Key, _Value] = {}
            self._flatten(source.data, self._schema, (), source, source.textual, flat, problems)
            merged.update(flat)
        merged.update(self._overrides)
        settings = self._structure(self._schema, (), merged, problems)
        if problems:
            raise ConfigError(problems)
        return settings, {k: v.source for k, v in merged.items()}

    def _defaults(
        self, cls: type, prefix: Key, merged: dict[Key, _Value], problems: list[ConfigProblem]
    ) -> None:
        """The defaults of tables whose default is an instance (``db: Db = Db(port=1)``).

        They are the lowest layer, so that a source setting one key of such a table keeps
        the other values of the default instance.
        """
        for key, field in _fields(cls).items():
            if not _is_table(field.type):
                continue
            default: Any = field.default
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                default = None if default.takes_self else default.factory()
            if default is attrs.NOTHING or default is None:
                self._defaults(field.type, (*prefix, key), merged, problems)
                continue
            data = self._converter.unstructure(default)
            self._flatten(data, field.type, (*prefix, key), "defaults", False, merged, problems)

    def _flatten(
        self,
        data: Mapping[str, Any],
        cls: type,
        prefix: Key,
        source: Source | str,
        textual: bool,
        out: dict[Key, _Value],
        problems: list[ConfigProblem],
    ) -> None:
        fields = _fields(cls)
        for raw_key, value in data.items():
            key = str(raw_key)
            path = (*prefix, key)
            where = source.where(path) if isinstance(source, Source) else source
            field = fields.get(key)
            if field is None:
                known = [_dotted((*prefix, k)) for k in fields]
                close = _close_matches(_dotted(path), known)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                message = f"unknown key {_dotted(path)!r}{hint}"
                problems.append(ConfigProblem(_dotted(path), where, value, message))
                continue
            if _is_table(field.type):
                if isinstance(value, Mapping):
                    self._flatten(value, field.type, path, source, textual, out, problems)
                else:
                    message = f"must be a table of keys, got {value!r}"
                    problems.append(ConfigProblem(_dotted(path), where, value, message))
                continue
            out[path] = _Value(value, where, textual)

    def _structure(
        self, cls: type, prefix: Key, merged: dict[Key, _Value], problems: list[ConfigProblem]
    ) -> Any:
        kwargs: dict[str, Any] = {}
        before = len(problems)
        for key, field in _fields(cls).items():
            path = (*prefix, key)
            if _is_table(field.type):
                if field.default is attrs.NOTHING or any(k[: len(path)] == path for k in merged):
                    kwargs[key] = self._structure(field.type, path, merged, problems)
                continue
            item = merged.get(path)
            if item is None:
                if field.default is attrs.NOTHING:
                    problems.append(
                        ConfigProblem(_dotted(path), "defaults", None, "missing required key")
                    )
                continue
            converted = self._convert(field, path, item, problems)
            if converted is not _INVALID:
                kwargs[key] = converted
        if len(problems) > before:
            return None
        try:
            return cls(**kwargs)
        except Exception as exc:  # a cross-field check in __attrs_post_init__, say
            where = _dotted(prefix)
            source = next(
                (v.source for k, v in merged.items() if k[: len(prefix)] == prefix), "defaults"
            )
            problems.append(ConfigProblem(where, source, kwargs, f"invalid: {exc}"))
            return None

    def _convert(
        self,
        field: attrs.Attribute[Any],
        path: Key,
        item: _Value,
        problems: list[ConfigProblem],
    ) -> Any:
        value = item.value
        tp = field.type
        if tp is not None:
            origin = typing.get_origin(tp) or tp
            if item.textual and isinstance(value, str) and origin in _CONTAINERS:
                try:
                    value = json.loads(value)
                except json.JSONDecodeError as exc:
                    message = f"expected JSON text for {_type_name(tp)}: {exc.msg}, got {value!r}"
                    problems.append(ConfigProblem(_dotted(path), item.source, item.value, message))
                    return _INVALID
            try:
                value = self._converter.structure(value, tp)
            except Exception as exc:
                message = f"invalid {_type_name(tp)}: {_leaf_error(exc)}, got {item.value!r}"
                problems.append(ConfigProblem(_dotted(path), item.source, item.value, message))
                return _INVALID
        if field.validator is not None:
            try:
                field.validator(None, field, value)
            except Exception as exc:
                message = f"{exc}" if str(exc) else f"rejected by {field.validator!r}"
                problems.append(ConfigProblem(_dotted(path), item.source, item.value, message))
                return _INVALID
        return value

    # --- keys -------------------------------------------------------------------------------

    def _check_key(self, key: str) -> Key:
        _check_str_key(key)
        parts = tuple(key.split("."))
        cls: Any = self._schema
        for depth, part in enumerate(parts):
            fields = _fields(cls) if _is_table(cls) else {}
            if part not in fields:
                known = [k for k in map(_dotted, self._all_keys()) if k.count(".") == depth]
                close = _close_matches(key, known)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(
                    [ConfigProblem(key, "the key argument", None, f"unknown key {key!r}{hint}")]
                )
            cls = fields[part].type
        return parts

    def _all_keys(self) -> list[Key]:
        keys: list[Key] = []

        def walk(cls: type, prefix: Key) -> None:
            for name, field in _fields(cls).items():
                keys.append((*prefix, name))
                if _is_table(field.type):
                    walk(field.type, (*prefix, name))

        walk(self._schema, ())
        return keys

    def _is_table_key(self, parts: Key) -> bool:
        return _is_table(self._type_at(parts))

    def _table_at(self, parts: Key) -> type:
        tp = self._type_at(parts)
        assert isinstance(tp, type)
        return tp

    def _type_at(self, parts: Key) -> Any:
        tp: Any = self._schema
        for part in parts:
            tp = _fields(tp)[part].type
        return tp


_INVALID: Any = object()


def _close_matches(word: str, known: list[str]) -> list[str]:
    import difflib  # only on an error path

    return difflib.get_close_matches(word, known, n=1)


def _check_str_key(key: object) -> None:
    if not isinstance(key, str):
        msg = f"key must be a str, got {key!r}"
        raise TypeError(msg)


def _type_name(tp: Any) -> str:
    return tp.__name__ if isinstance(tp, type) else repr(tp).replace("typing.", "")


def _undot(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """``{"db.port": 1}`` -> ``{"db": {"port": 1}}`` (top-level keys only; tables merged)."""
    out: dict[str, Any] = {}
    for raw_key, value in mapping.items():
        parts = str(raw_key).split(".")
        table = out
        for part in parts[:-1]:
            nested = table.get(part)
            if not isinstance(nested, dict):
                nested = table[part] = {}
            table = nested
        last = parts[-1]
        if isinstance(value, Mapping) and isinstance(table.get(last), dict):
            table[last] = {**table[last], **value}
        else:
            table[last] = value
    return out

"""Reading and writing configuration files, and reading the environment, for ConfigManager.

Each reader turns one source into a :class:`Source`: nested plain data, the line of each key
where the format (or a cheap scan of the text) gives it, and whether values are text that
still needs converting (environment, INI).  Readers never raise for a bad source: they
return a :class:`~trio_orch._exceptions.ConfigProblem` instead, so that every problem of
every source is reported at once.

The format is chosen by the file's suffix: ``.json``; ``.toml`` (stdlib ``tomllib``; written
with ``tomli-w``); ``.yaml``/``.yml`` (PyYAML); ``.ini``/``.cfg`` (stdlib ``configparser``).
PyYAML and tomli-w are imported only when a YAML file or a TOML save needs them
(``pip install 'trio-orch[config]'``).  INI files map sections to tables: top-level keys go
in ``[DEFAULT]`` (read as an ordinary section, without configparser's propagation), nested
tables in dotted sections (``[db.pool]``).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

import attrs

from trio_orch._exceptions import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping
    from pathlib import Path

Key = tuple[str, ...]

SUFFIXES = {
    ".json": "json",
    ".toml": "toml",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".ini": "ini",
    ".cfg": "ini",
}
#: The INI section that holds top-level keys.
INI_TOP = "DEFAULT"
_INI_NO_DEFAULTS = "\x00no default section"
_EXTRA_HINT = "pip install 'trio-orch[config]'"


@attrs.define
class Source:
    """One source, read: ``data`` (None when unreadable), key lines, problems."""

    label: str
    data: dict[str, Any] | None
    textual: bool = False
    lines: dict[Key, int] = attrs.Factory(dict)
    problems: list[ConfigProblem] = attrs.Factory(list)
    # environment: the variable that set each key
    names: dict[Key, str] = attrs.Factory(dict)

    def where(self, key: Key) -> str:
        """The source of ``key``: a variable's name, ``file:line`` or the label."""
        if key in self.names:
            return self.names[key]
        line = self.lines.get(key)
        return f"{self.label}:{line}" if line is not None else self.label


def format_of(path: Path) -> str | None:
    """The format name for ``path``'s suffix, or None."""
    return SUFFIXES.get(path.suffix.lower())


def read_file(path: Path) -> Source:
    """Read a configuration file; problems (missing, unreadable, malformed) are returned."""
    label = str(path)
    kind = format_of(path)
    if kind is None:
        known = ", ".join(sorted(SUFFIXES))
        message = f"unknown file format {path.suffix!r} (use one of {known})"
        return Source(label, None, problems=[ConfigProblem("", label, None, message)])
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Source(label, None, problems=[ConfigProblem("", label, None, "file not found")])
    except (OSError, UnicodeDecodeError) as exc:
        message = f"cannot read the file: {exc}"
        return Source(label, None, problems=[ConfigProblem("", label, None, message)])
    reader = {"json": _read_json, "toml": _read_toml, "yaml": _read_yaml, "ini": _read_ini}[kind]
    return reader(label, text)


def _not_a_table(label: str, data: object) -> Source:
    message = f"the top level must be a table of keys, got {type(data).__name__}"
    return Source(label, None, problems=[ConfigProblem("", label, data, message)])


def _read_json(label: str, text: str) -> Source:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = ConfigProblem("", f"{label}:{exc.lineno}", None, f"invalid JSON: {exc.msg}")
        return Source(label, None, problems=[problem])
    if not isinstance(data, dict):
        return _not_a_table(label, data)
    return Source(label, data, lines=_scan_json_lines(text))


_TOML_LINE = re.compile(r"\(at line (\d+)")


def _read_toml(label: str, text: str) -> Source:
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = _TOML_LINE.search(message)
        where = f"{label}:{match.group(1)}" if match else label
        head = message.split(" (at line")[0]
        return Source(
            label, None, problems=[ConfigProblem("", where, None, f"invalid TOML: {head}")]
        )
    return Source(label, data, lines=_scan_table_lines(text, toml=True))


def _read_yaml(label: str, text: str) -> Source:
    try:
        import yaml
    except ImportError:  # pragma: no cover - the test extra installs it
        message = f"reading YAML needs PyYAML: {_EXTRA_HINT}"
        return Source(label, None, problems=[ConfigProblem("", label, None, message)])
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{label}:{mark.line + 1}" if mark is not None else label
        problem = getattr(exc, "problem", None) or str(exc)
        return Source(
            label, None, problems=[ConfigProblem("", where, None, f"invalid YAML: {problem}")]
        )
    if data is None:
        return Source(label, {})
    if not isinstance(data, dict):
        return _not_a_table(label, data)
    lines: dict[Key, int] = {}
    _yaml_lines(node, (), lines)
    return Source(label, data, lines=lines)


def _yaml_lines(node: Any, prefix: Key, lines: dict[Key, int]) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = (*prefix, str(key_node.value))
            lines[key] = key_node.start_mark.line + 1
            _yaml_lines(value_node, key, lines)


def _read_ini(label: str, text: str) -> Source:
    import configparser

    parser = configparser.ConfigParser(interpolation=None, default_section=_INI_NO_DEFAULTS)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep the keys' case
    try:
        parser.read_string(text, source=label)
    except configparser.Error as exc:
        lineno = getattr(exc, "lineno", None)
        errors = getattr(exc, "errors", None)
        if lineno is None and errors:
            lineno = errors[0][0]
        where = f"{label}:{lineno}" if lineno is not None else label
        head = str(exc).splitlines()[0]
        return Source(
            label, None, problems=[ConfigProblem("", where, None, f"invalid INI: {head}")]
        )
    data: dict[str, Any] = {}
    for section in parser.sections():
        table = data
        if section != INI_TOP:
            for part in section.split("."):
                table = table.setdefault(part, {})
        for key, value in parser.items(section, raw=True):
            table[key] = value
    return Source(label, data, textual=True, lines=_scan_table_lines(text, toml=False))


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:[#;].*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_.\-\"' ]+?)\s*[=:]")


def _scan_table_lines(text: str, *, toml: bool) -> dict[Key, int]:
    """Lines of ``[table]`` headers and ``key = value`` lines (a scan, good enough for errors)."""
    lines: dict[Key, int] = {}
    prefix: Key = ()
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith(("#", ";")):
            continue
        header = _HEADER.match(line)
        if header:
            name = header.group(1)
            prefix = () if not toml and name == INI_TOP else _dotted(name)
            lines.setdefault(prefix, number)
            continue
        key = _KEY.match(line)
        if key:
            parts = _dotted(key.group(1)) if toml else (key.group(1).strip(),)
            lines.setdefault((*prefix, *parts), number)
    return lines


def _dotted(name: str) -> Key:
    return tuple(part.strip().strip("\"'") for part in name.split("."))


_JSON_KEY = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:')


def _scan_json_lines(text: str) -> dict[Key, int]:
    """Lines of JSON keys, following nesting by braces (a scan, good enough for errors)."""
    lines: dict[Key, int] = {}
    stack: list[str] = []
    pending: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        position = 0
        while position < len(line):
            char = line[position]
            if char == '"':
                match = _JSON_KEY.match(line, position)
                if match:
                    pending = match.group(1)
                    lines.setdefault((*stack, pending), number)
                    position = match.end()
                    continue
                end = _string_end(line, position)
                position = end
                pending = None
                continue
            if char == "{":
                if pending is not None:
                    stack.append(pending)
                else:
                    stack.append("")
                pending = None
            elif char == "}":
                if stack:
                    stack.pop()
            elif char in ",[":
                pending = None
            position += 1
    return {tuple(p for p in key if p): n for key, n in lines.items()}


def _string_end(line: str, start: int) -> int:
    position = start + 1
    while position < len(line):
        if line[position] == "\\":
            position += 2
            continue
        if line[position] == '"':
            return position + 1
        position += 1
    return position


def read_env(env: Mapping[str, str], prefix: str) -> Source:
    """Every variable starting with ``prefix``: ``APP_DB__PORT`` -> ``db.port`` (lower case)."""
    data: dict[str, Any] = {}
    names: dict[Key, str] = {}
    for name in sorted(env):
        if not name.startswith(prefix) or len(name) == len(prefix):
            continue
        key = tuple(part.lower() for part in name[len(prefix) :].split("__"))
        table = data
        for part in key[:-1]:
            nested = table.setdefault(part, {})
            if not isinstance(nested, dict):  # APP_DB=x and APP_DB__PORT=1: keep the first
                break
            table = nested
        else:
            table[key[-1]] = env[name]
        names[key] = name
    return Source("environment", data, textual=True, names=names)


# --- writing --------------------------------------------------------------------------------


def _without_none(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _without_none(v) for k, v in data.items() if v is not None}
    if isinstance(data, list | tuple):
        return [_without_none(v) for v in data]
    return data


def dump(data: dict[str, Any], kind: str, label: str, tables: Collection[Key]) -> str:
    """Render ``data`` (unstructured settings) in format ``kind``.

    ``tables`` are the keys that are sections of the schema (INI writes them as sections
    and every other value, lists and mappings included, as a value).

    Raises:
        ConfigError: the format cannot hold a value, or its writer is not installed.
    """
    if kind == "json":
        return json.dumps(data, indent=2) + "\n"
    if kind == "yaml":
        import yaml

        text: str = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        return text
    if kind == "toml":
        try:
            import tomli_w
        except ImportError:  # pragma: no cover - the test extra installs it
            message = f"writing TOML needs tomli-w: {_EXTRA_HINT}"
            raise ConfigError([ConfigProblem("", label, None, message)]) from None
        return tomli_w.dumps(_without_none(data))
    return _dump_ini(_without_none(data), tables)


def _ini_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value)


def _dump_ini(data: dict[str, Any], tables: Collection[Key]) -> str:
    import configparser
    import io

    parser = configparser.ConfigParser(interpolation=None, default_section=_INI_NO_DEFAULTS)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep the keys' case
    sections: dict[str, dict[str, str]] = {}

    def walk(table: dict[str, Any], prefix: Key) -> None:
        name = ".".join(prefix) if prefix else INI_TOP
        for key, value in table.items():
            if isinstance(value, dict) and (*prefix, key) in tables:
                walk(value, (*prefix, key))
            else:
                sections.setdefault(name, {})[key] = _ini_value(value)

    walk(data, ())
    for name, values in sections.items():
        parser[name] = values
    out = io.StringIO()
    parser.write(out)
    return out.getvalue()

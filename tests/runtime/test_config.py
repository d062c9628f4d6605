"""ConfigManager: layering, every file format, env nesting, validation, save, reload."""

from __future__ import annotations

import json
from functools import partial
from typing import TYPE_CHECKING

import attrs
import pytest
import trio
import trio.testing

from trio_orch import (
    ConfigError,
    ConfigManager,
    ConfigProblem,
    ConfigReloaded,
    ConfigReloadFailed,
    open_event_bus,
)

if TYPE_CHECKING:
    from pathlib import Path


@attrs.frozen
class Pool:
    size: int = attrs.field(default=4, validator=attrs.validators.ge(1))
    timeout: float = 1.5


@attrs.frozen
class Db:
    host: str = "localhost"
    port: int = attrs.field(default=5432, validator=attrs.validators.gt(0))
    pool: Pool = Pool()
    tags: list[str] = attrs.Factory(list)
    password: str | None = None


@attrs.frozen
class Settings:
    debug: bool = False
    name: str = "app"
    ratio: float = 0.5
    db: Db = Db(host="db.internal")


@attrs.frozen
class Required:
    token: str
    level: int = 1


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def messages(error: ConfigError) -> list[str]:
    return [str(p) for p in error.problems]


# --- layering -----------------------------------------------------------------------------


def test_defaults_only() -> None:
    config = ConfigManager(Settings, env={})
    assert config.settings == Settings()
    assert config.settings.db.host == "db.internal"  # the table's default instance
    assert config.source_of("db.port") == "defaults"
    assert config.schema is Settings
    assert config.files == ()


def test_layers_defaults_files_env_mappings(tmp_path: Path) -> None:
    first = write(tmp_path / "a.toml", "name = 'from-a'\n[db]\nport = 1\n[db.pool]\nsize = 8\n")
    second = write(tmp_path / "b.json", '{"db": {"port": 2, "tags": ["x"]}}')
    config = ConfigManager(
        Settings,
        files=[first, str(second)],
        env={"APP_DB__PORT": "3", "APP_DB__POOL__TIMEOUT": "2.5", "OTHER": "x"},
        mappings=[{"db": {"port": 4}}, {"db.pool.size": 9}],
    )
    assert config.settings == Settings(
        name="from-a",
        db=Db(host="db.internal", port=4, pool=Pool(size=9, timeout=2.5), tags=["x"]),
    )
    assert config.source_of("name") == f"{first}:1"
    assert config.source_of("db.tags") == str(second) + ":1"
    assert config.source_of("db.pool.timeout") == "APP_DB__POOL__TIMEOUT"
    assert config.source_of("db.port") == "mappings[0]"
    assert config.source_of("db.pool.size") == "mappings[1]"
    assert config.source_of("ratio") == "defaults"


def test_env_prefix_none_ignores_the_environment() -> None:
    config = ConfigManager(Settings, env={"APP_DEBUG": "true"}, env_prefix=None)
    assert config.settings.debug is False


def test_env_nesting_and_conversions() -> None:
    env = {
        "MY_DEBUG": "Yes",
        "MY_RATIO": "3",
        "MY_DB__HOST": "h",
        "MY_DB__TAGS": '["a", "b"]',
        "MY_DB__POOL__SIZE": " 12 ",
    }
    config = ConfigManager(Settings, env=env, env_prefix="MY_")
    assert config.settings == Settings(
        debug=True, ratio=3.0, db=Db(host="h", tags=["a", "b"], pool=Pool(size=12))
    )


def test_os_environ_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIO_ORCH_TEST_DB__PORT", "7")
    config = ConfigManager(Settings, env_prefix="TRIO_ORCH_TEST_")
    assert config.get("db.port") == 7


# --- every file format --------------------------------------------------------------------

EXPECTED = Settings(debug=True, name="n", ratio=0.25, db=Db(host="h", port=9, tags=["t"]))

FILES = {
    "json": '{"debug": true, "name": "n", "ratio": 0.25, "db": {"host": "h", "port": 9, "tags": ["t"]}}',
    "toml": 'debug = true\nname = "n"\nratio = 0.25\n[db]\nhost = "h"\nport = 9\ntags = ["t"]\n',
    "yaml": "debug: true\nname: n\nratio: 0.25\ndb:\n  host: h\n  port: 9\n  tags: [t]\n",
    "yml": "debug: true\nname: n\nratio: 0.25\ndb:\n  host: h\n  port: 9\n  tags: [t]\n",
    "ini": '[DEFAULT]\ndebug = true\nname = n\nratio = 0.25\n[db]\nhost = h\nport = 9\ntags = ["t"]\n',
    "cfg": '[DEFAULT]\ndebug = on\nname = n\nratio = 0.25\n[db]\nhost = h\nport = 9\ntags = ["t"]\n',
}


@pytest.mark.parametrize("suffix", sorted(FILES))
def test_every_format_reads(tmp_path: Path, suffix: str) -> None:
    path = write(tmp_path / f"settings.{suffix}", FILES[suffix])
    assert ConfigManager(Settings, files=[path], env={}).settings == EXPECTED


def test_empty_yaml_is_no_keys(tmp_path: Path) -> None:
    path = write(tmp_path / "empty.yaml", "")
    assert ConfigManager(Settings, files=[path], env={}).settings == Settings()


BAD_FILES = {
    "json": (
        '{\n  "a": 1,,\n}',
        ":2",
        "invalid JSON: Expecting property name enclosed in double quotes",
    ),
    "toml": ("ok = 1\nbad = \n", ":2", "invalid TOML: Invalid value"),
    "yaml": ("a: 1\nb: [1, 2\n", ":3", "invalid YAML: expected ',' or ']', but got '<stream end>'"),
    "ini": ("k = 1\n", ":1", "invalid INI: File contains no section headers."),
}


@pytest.mark.parametrize("suffix", sorted(BAD_FILES))
def test_bad_files_of_each_format(tmp_path: Path, suffix: str) -> None:
    text, line, message = BAD_FILES[suffix]
    path = write(tmp_path / f"bad.{suffix}", text)
    with pytest.raises(ConfigError) as info:
        ConfigManager(Settings, files=[path], env={})
    assert info.value.problems == (ConfigProblem("", f"{path}{line}", None, message),)


@pytest.mark.parametrize(
    ("text", "kind"), [("[1, 2]", "json"), ("- 1\n", "yaml")], ids=["json", "yaml"]
)
def test_top_level_must_be_a_table(tmp_path: Path, text: str, kind: str) -> None:
    path = write(tmp_path / f"list.{kind}", text)
    with pytest.raises(ConfigError) as info:
        ConfigManager(Settings, files=[path], env={})
    assert messages(info.value) == [
        f"<file>: the top level must be a table of keys, got list (from {path})"
    ]


def test_missing_unknown_and_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    unknown = write(tmp_path / "settings.txt", "x")
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError) as info:
        ConfigManager(Settings, files=[missing, unknown, binary], env={})
    text = messages(info.value)
    assert text[0] == f"<file>: file not found (from {missing})"
    assert text[1] == (
        "<file>: unknown file format '.txt' (use one of .cfg, .ini, .json, .toml, .yaml, "
        f".yml) (from {unknown})"
    )
    assert text[2].startswith("<file>: cannot read the file: ")


# --- validation ---------------------------------------------------------------------------


def test_every_problem_is_listed_with_path_source_and_value(tmp_path: Path) -> None:
    yaml_file = write(
        tmp_path / "app.yaml",
        "debug: maybe\ndb:\n  prot: 1\n  pool:\n    size: 0\n  tags: 3\n",
    )
    toml_file = write(tmp_path / "app.toml", "[db]\nhost = 5\n[dbx]\nport = 1\n")
    with pytest.raises(ConfigError) as info:
        ConfigManager(
            Settings,
            files=[yaml_file, toml_file],
            env={"APP_RATIO": "fast", "APP_DB__PORT": "-1", "APP_NAEM": "x"},
            mappings=[{"db": 1}],
        )
    assert messages(info.value) == [
        f"db.prot: unknown key 'db.prot' (did you mean 'db.port'?) (from {yaml_file}:3)",
        f"dbx: unknown key 'dbx' (did you mean 'db'?) (from {toml_file}:3)",
        "naem: unknown key 'naem' (did you mean 'name'?) (from APP_NAEM)",
        "db: must be a table of keys, got 1 (from mappings[0])",
        "debug: invalid bool: expected a bool (true/false, yes/no, on/off, 1/0), got 'maybe' "
        f"(from {yaml_file}:1)",
        "ratio: invalid float: expected a number, got 'fast' (from APP_RATIO)",
        f"db.host: invalid str: expected a str, got 5 (from {toml_file}:2)",
        "db.port: 'port' must be > 0: -1 (from APP_DB__PORT)",
        f"db.pool.size: 'size' must be >= 1: 0 (from {yaml_file}:5)",
        f"db.tags: invalid list[str]: 'int' object is not iterable, got 3 (from {yaml_file}:6)",
    ]
    problem = info.value.problems[7]
    assert (problem.path, problem.source, problem.value) == ("db.port", "APP_DB__PORT", "-1")
    assert str(info.value).startswith("10 configuration problems:\n  db.prot: ")
    assert isinstance(info.value, ValueError)


def test_missing_required_key_and_cross_field_checks() -> None:
    with pytest.raises(ConfigError) as info:
        ConfigManager(Required, env={})
    assert messages(info.value) == ["token: missing required key (from defaults)"]

    @attrs.frozen
    class Window:
        low: int = 0
        high: int = 10

        def __attrs_post_init__(self) -> None:
            if self.low > self.high:
                raise ValueError(f"low {self.low} is above high {self.high}")

    with pytest.raises(ConfigError) as info:
        ConfigManager(Window, env={"APP_LOW": "11"})
    assert messages(info.value) == ["<file>: invalid: low 11 is above high 10 (from APP_LOW)"]


def test_bad_json_text_for_a_list_from_the_environment() -> None:
    with pytest.raises(ConfigError) as info:
        ConfigManager(Settings, env={"APP_DB__TAGS": "a,b"})
    assert messages(info.value) == [
        "db.tags: expected JSON text for list[str]: Expecting value, got 'a,b' (from APP_DB__TAGS)"
    ]
    assert info.value.problems[0].value == "a,b"


def test_constructor_arguments() -> None:
    with pytest.raises(TypeError, match=r"^schema must be an attrs class, got <class 'dict'>$"):
        ConfigManager(dict)
    with pytest.raises(TypeError, match=r"^files must be a sequence of paths, got 'a.toml'$"):
        ConfigManager(Settings, files="a.toml")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^mappings must be a sequence of mappings, got \{\}$"):
        ConfigManager(Settings, mappings={})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^env_prefix must not be empty, got ''$"):
        ConfigManager(Settings, env_prefix="")


# --- get / set / has ----------------------------------------------------------------------


def test_get_set_has() -> None:
    config = ConfigManager(Settings, env={})
    assert config.get("db.pool.size") == 4
    assert config.get("db.pool") == Pool()
    assert config.has("db.pool.size")
    assert config.has("db")
    assert not config.has("db.pool.sise")
    assert not config.has("")
    config.set("db.pool.size", "16")
    assert config.settings.db.pool.size == 16
    assert config.source_of("db.pool.size") == "set()"
    config.set("db", {"host": "other"})
    assert config.get("db.host") == "other"
    assert config.get("db.pool.size") == 16  # kept: only db.host was set
    config.set("db.pool", Pool(size=2, timeout=9.0))
    assert config.get("db.pool") == Pool(size=2, timeout=9.0)
    with pytest.raises(TypeError, match=r"^key must be a str, got 1$"):
        config.has(1)  # type: ignore[arg-type]


def test_set_refuses_invalid_values_and_unknown_keys() -> None:
    config = ConfigManager(Settings, env={})
    before = config.settings
    with pytest.raises(ConfigError) as info:
        config.set("db.port", 0)
    assert messages(info.value) == ["db.port: 'port' must be > 0: 0 (from set())"]
    with pytest.raises(ConfigError) as info:
        config.set("db.prot", 1)
    assert messages(info.value) == [
        "db.prot: unknown key 'db.prot' (did you mean 'db.port'?) (from the key argument)"
    ]
    with pytest.raises(ConfigError) as info:
        config.set("db", {"prot": 1})
    assert messages(info.value) == [
        "db.prot: unknown key 'db.prot' (did you mean 'db.port'?) (from set())"
    ]
    with pytest.raises(ConfigError) as info:
        config.set("db", 1)
    assert messages(info.value) == ["db: must be a table of keys, got 1 (from set())"]
    with pytest.raises(ConfigError, match=r"unknown key 'nme' \(did you mean 'name'\?\)"):
        config.get("nme")
    assert config.settings is before


# --- save and reload ----------------------------------------------------------------------

SAVED = Settings(
    debug=True,
    name="saved",
    ratio=2.0,
    db=Db(host="h", port=1, pool=Pool(size=3, timeout=0.5), tags=["a", "b c"], password="pw"),
)


@pytest.mark.parametrize("suffix", ["json", "toml", "yaml", "yml", "ini", "cfg"])
def test_save_round_trips(tmp_path: Path, suffix: str) -> None:
    config = ConfigManager(Settings, env={}, mappings=[attrs.asdict(SAVED)])
    path = tmp_path / f"out.{suffix}"
    config.save(path)
    again = ConfigManager(Settings, files=[path], env_prefix=None)
    assert again.settings == SAVED


@pytest.mark.parametrize("suffix", ["toml", "ini"])
def test_save_leaves_none_out_where_the_format_has_no_null(tmp_path: Path, suffix: str) -> None:
    config = ConfigManager(Settings, env={})
    path = tmp_path / f"out.{suffix}"
    config.save(path)
    assert "password" not in path.read_text()
    assert ConfigManager(Settings, files=[path], env={}).settings == Settings()


def test_save_json_keeps_none(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    ConfigManager(Settings, env={}).save(path)
    assert json.loads(path.read_text())["db"]["password"] is None


def test_save_to_an_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    with pytest.raises(ConfigError) as info:
        ConfigManager(Settings, env={}).save(path)
    assert messages(info.value) == [f"<file>: unknown file format '.txt' (from {path})"]


def test_reload_keeps_values_set_at_run_time(tmp_path: Path) -> None:
    path = write(tmp_path / "app.toml", "name = 'one'\n")
    config = ConfigManager(Settings, files=[path], env={})
    write(path, "name = 1\n")  # set() does not read the files again
    config.set("ratio", 0.75)
    config.set("ratio", 0.75)
    write(path, "name = 'one'\n")
    assert config.reload() is False
    write(path, "name = 'two'\n")
    assert config.reload() is True
    assert (config.get("name"), config.get("ratio")) == ("two", 0.75)
    write(path, "name = 3\n")
    with pytest.raises(ConfigError):
        config.reload()
    assert config.get("name") == "two"


async def test_watch_reloads_on_change(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = write(tmp_path / "app.toml", "name = 'one'\n")
    async with open_event_bus() as bus:
        config = ConfigManager(Settings, files=[path], env={})
        async with (
            bus.subscribe(ConfigReloaded) as reloaded,
            bus.subscribe(ConfigReloadFailed) as failed,
            trio.open_nursery() as nursery,
        ):
            await nursery.start(partial(config.watch, bus=bus))
            await trio.sleep(3)  # nothing changed: no reload
            write(path, "name = 'two' # a longer file\n")
            assert await reloaded.receive() == ConfigReloaded(files=(str(path),))
            assert config.get("name") == "two"
            write(path, "name = 'three\n")
            event = await failed.receive()
            assert isinstance(event.error, ConfigError)
            assert config.get("name") == "two"
            path.unlink()
            event = await failed.receive()
            assert messages(event.error) == [f"<file>: file not found (from {path})"]
            nursery.cancel_scope.cancel()
    with pytest.raises(ValueError, match=r"^interval must be finite and > 0, got 0$"):
        await config.watch(interval=0)
    with pytest.raises(TypeError, match=r"^bus must be an EventBus or None, got 1$"):
        await config.watch(bus=1)  # type: ignore[arg-type]
    assert repr(config) == "<ConfigManager Settings from 1 files>"


def test_more_conversions_and_scans(tmp_path: Path) -> None:
    @attrs.frozen
    class Made:
        pool: Pool = attrs.Factory(lambda: Pool(size=2))
        limits: dict[str, int] = attrs.Factory(dict)
        note: str = ""

    json_file = write(
        tmp_path / "a.json",
        '{\n  "note": "braces { and \\" quotes",\n  "limits": {"a": 1},\n'
        '  "pool": {\n    "timeout": [1]\n  }\n}',
    )
    with pytest.raises(ConfigError) as info:
        ConfigManager(Made, files=[json_file], env={"APP_POOL__SIZE": "two"})
    assert messages(info.value) == [
        "pool.size: invalid int: expected an int, got 'two' (from APP_POOL__SIZE)",
        f"pool.timeout: invalid float: expected a number, got [1] (from {json_file}:5)",
    ]
    ini_file = write(tmp_path / "a.ini", "; a comment\n[pool]\n# another\nsize = 5\n")
    config = ConfigManager(Made, files=[ini_file], env={"APP_LIMITS": '{"b": 2}'})
    assert config.settings == Made(pool=Pool(size=5), limits={"b": 2})
    assert config.source_of("pool.size") == f"{ini_file}:4"
    assert config.source_of("pool.timeout") == "defaults"  # from the factory's instance


def test_an_env_value_and_a_table_under_the_same_name() -> None:
    with pytest.raises(ConfigError) as info:
        ConfigManager(Settings, env={"APP_DB": "x", "APP_DB__PORT": "1"})
    assert messages(info.value) == ["db: must be a table of keys, got 'x' (from APP_DB)"]

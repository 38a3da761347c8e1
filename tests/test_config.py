"""Settings: every field has its LOGCTL_* variable, converted by its type, and the layers
resolve defaults < logctl.toml < environment < flags."""

from dataclasses import fields
from pathlib import Path

import pytest

from logctl.config import Settings, env_name, load_settings
from logctl.errors import UsageError


def test_every_setting_reads_its_environment_variable(tmp_path: Path) -> None:
    env = {"LOGCTL_HOME": str(tmp_path), "LOGCTL_WORKERS": "0", "LOGCTL_CHUNK_SIZE": "65536",
           "LOGCTL_POLL_INTERVAL": "0.5", "LOGCTL_INSECURE": "yes", "LOGCTL_DURABLE": "false",
           "LOGCTL_GLOBS": "*.log, *.txt", "LOGCTL_FIELDS": "status=code,latency:s=took",
           "LOGCTL_ALERTS": "error_rate=0.05", "LOGCTL_DB": "~/x.db", "LOGCTL_ENGINE": "python"}
    settings = load_settings({}, env)
    assert (settings.home, settings.workers, settings.chunk_size, settings.poll_interval,
            settings.insecure, settings.durable, settings.globs, dict(settings.fields),
            dict(settings.alerts), settings.db, settings.engine) == (
        tmp_path, 0, 65536, 0.5, True, False, ("*.log", "*.txt"),
        {"status": "code", "latency:s": "took"}, {"error_rate": 0.05},
        Path("~/x.db").expanduser(), "python")
    assert {env_name(f.name) for f in fields(Settings)} >= {"LOGCTL_STORE", "LOGCTL_DURABLE",
                                                           "LOGCTL_ALERT_WEBHOOK"}


def test_layers_resolve_in_order(tmp_path: Path) -> None:
    (tmp_path / "logctl.toml").write_text("chunk_size = 1000\nroute_cap = 50\ndurable = false\n")
    env = {"LOGCTL_HOME": str(tmp_path), "LOGCTL_CHUNK_SIZE": "2000"}
    settings = load_settings({"route_cap": 7}, env)
    assert (settings.chunk_size, settings.route_cap, settings.durable) == (2000, 7, False)
    assert load_settings({}, {"LOGCTL_HOME": str(tmp_path / "none")}).durable is True


@pytest.mark.parametrize(("name", "value"), [
    ("LOGCTL_CHUNK_SIZE", "0"), ("LOGCTL_WORKERS", "-1"), ("LOGCTL_INSECURE", "maybe"),
    ("LOGCTL_POLL_INTERVAL", "0"), ("LOGCTL_ENGINE", "turbo"),
    ("LOGCTL_MAX_BODY", "ten"),
])
def test_bad_values_name_the_setting_and_origin(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(UsageError, match=f"bad value for {name[7:].lower()} in environment"):
        load_settings({}, {"LOGCTL_HOME": str(tmp_path), name: value})


def test_unknown_settings_in_the_config_file_are_refused(tmp_path: Path) -> None:
    (tmp_path / "logctl.toml").write_text("chunk_sise = 1\n")
    with pytest.raises(UsageError, match=r"unknown setting 'chunk_sise' in logctl\.toml"):
        load_settings({}, {"LOGCTL_HOME": str(tmp_path)})

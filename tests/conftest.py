"""Shared fixtures: the real Apache sample, a CLI runner with an isolated data dir."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

DATA = Path(__file__).parent / "data"


@pytest.fixture
def apache_log() -> Path:
    """Real Apache combined log, 10,000 lines (tests/data/SOURCES.md)."""
    return DATA / "apache_logs.log"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty LOGCTL_HOME, and no config file from the working directory."""
    monkeypatch.setenv("LOGCTL_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    for name in ("LOGCTL_DB", "LOGCTL_FORMAT", "LOGCTL_WORKERS", "LOGCTL_STORE"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "home"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()

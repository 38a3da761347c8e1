"""logctl: turn raw log files into metrics you can query and watch."""

__version__ = "0.1.0"

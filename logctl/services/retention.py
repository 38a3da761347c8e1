"""Retention and downsampling: which cut-offs the settings give at a moment, and applying
them to a store (what `logctl prune` and the storage daemon's schedule run). Drops go
first, so what is about to be dropped is never folded."""

from dataclasses import dataclass, replace

from logctl.errors import UsageError
from logctl.metrics.window import iso, parse_duration
from logctl.store.base import Downsampled, Store

DAY = 86400
HOUR = 3600


@dataclass(frozen=True)
class Policy:
    """How long points are kept, and after how long minutes become hours (seconds; None:
    never)."""

    retention: float | None = None
    downsample_after: float | None = None

    @classmethod
    def of(cls, retention: str | None, downsample_after: str | None) -> "Policy":
        """The policy the `retention` and `downsample_after` settings spell (e.g. "90d")."""
        return cls(parse_duration(retention) if retention else None,
                   parse_duration(downsample_after) if downsample_after else None)

    @property
    def active(self) -> bool:
        return self.retention is not None or self.downsample_after is not None


@dataclass(frozen=True)
class PruneReport:
    """What a prune removed and folded (or would, in a dry run). Cut-offs are the times
    the store cut at: whole days for drops, whole hours for folds."""

    dry_run: bool
    dropped_before: float | None = None
    dropped_points: int = 0
    folded_before: float | None = None
    folded: Downsampled | None = None

    def as_json(self) -> dict:
        folded = self.folded
        return {
            "dry_run": self.dry_run,
            "dropped_before": iso(self.dropped_before) if self.dropped_before else None,
            "dropped_points": self.dropped_points,
            "downsampled_before": iso(self.folded_before) if self.folded_before else None,
            "downsampled_hours": folded.hours if folded else 0,
            "minute_points_folded": folded.points_before if folded else 0,
            "hour_points_made": folded.points_after if folded else 0,
        }


def prune(store: Store, policy: Policy, now: float, before: float | None = None,
          dry_run: bool = False) -> PruneReport:
    """Apply the policy at `now` (`before` drops what precedes it instead of the retention
    cut-off); a dry run changes nothing and says what would go."""
    drop = before if before is not None else (
        now - policy.retention if policy.retention is not None else None)
    fold = now - policy.downsample_after if policy.downsample_after is not None else None
    if drop is None and fold is None:
        raise UsageError("nothing to prune: set retention (e.g. 90d) or downsample_after "
                         "(e.g. 7d) in logctl.toml or LOGCTL_RETENTION / "
                         "LOGCTL_DOWNSAMPLE_AFTER, or give --before TIME")
    report = PruneReport(dry_run)
    if drop is not None:
        report = replace(report, dropped_before=drop // DAY * DAY,
                         dropped_points=store.drop_before(drop, dry_run))
    if fold is not None and (drop is None or fold > drop):
        kept_from = report.dropped_before or 0  # a dry run counts only hours a drop keeps
        report = replace(report, folded_before=fold // HOUR * HOUR,
                         folded=store.downsample_before(fold, dry_run, kept_from))
    if not dry_run:
        store.refresh_rollups()  # the folded hours, so queries read rollups again
        store.reclaim()
    return report

"""Route folding: a path becomes a route with its ids folded, so `/users/123` and
`/users/456` are one series and storage stays bounded on hostile logs."""

import re
from functools import lru_cache

OTHER = "(other)"
MAX_ROUTE = 256
# Distinct routes kept per source; later new routes are stored as OTHER, so a scan of
# random paths cannot grow the store without end.
ROUTE_CAP = 2000
_ID = re.compile(
    r"^(?:\d+|[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
    r"|(?=[^/]*\d)[0-9a-fA-F]{8,}|(?=[^/]*\d)[A-Za-z0-9_-]{20,})$"
)


@lru_cache(maxsize=131072)
def fold_route(path: str) -> str:
    """Drop query and fragment, fold numeric, UUID, hex and long token segments to `:id`,
    keep at most MAX_ROUTE characters. A route folds to itself (a segment that the cut
    leaves looking like an id is folded too), so routes read back from the wire or a
    store are their own routes."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/"):
        return path[:MAX_ROUTE] or "-"
    route = _fold_segments(path)[:MAX_ROUTE]
    while (again := _fold_segments(route)[:MAX_ROUTE]) != route:
        route = again
    return route


def _fold_segments(path: str) -> str:
    return "/".join(":id" if _ID.match(part) else part for part in path.split("/"))


def cap_routes(routes: set[str], known: set[str], cap: int) -> dict[str, str]:
    """Which new routes of a source to fold into OTHER so it keeps at most `cap` routes.

    `known` (the routes the source has stored) grows with the routes admitted; routes are
    admitted in sorted order so the outcome does not depend on arrival order within a batch.
    """
    renames = {}
    for route in sorted(routes - known):
        if len(known) < cap or route == OTHER:
            known.add(route)
        else:
            renames[route] = OTHER
            known.add(OTHER)
    return renames

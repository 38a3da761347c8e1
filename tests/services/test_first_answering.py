"""Analytics reads history from the first storage instance that answers."""

import pytest

from logctl.errors import PeerError, UsageError
from logctl.services.analytics import FirstAnswering
from logctl.store.base import Coverage, Query, Row


class Down:
    def query(self, query: Query) -> list[Row]:
        raise PeerError("storage.0 unreachable", retryable=True)

    def coverage(self, query: Query) -> Coverage:
        raise PeerError("storage.0 unreachable", retryable=True)


class Up:
    def query(self, query: Query) -> list[Row]:
        return [Row("GET", None)]

    def coverage(self, query: Query) -> Coverage:
        return Coverage(1.0, 2.0, 3, 4)


class Refuses:
    def query(self, query: Query) -> list[Row]:
        raise UsageError("bad status filter")


def test_a_down_instance_is_passed_over() -> None:
    reader = FirstAnswering([Down(), Up()])
    assert [row.key for row in reader.query(Query())] == ["GET"]
    assert reader.coverage(Query()) == Coverage(1.0, 2.0, 3, 4)


def test_all_down_is_the_last_error_and_a_bad_query_is_not_retried() -> None:
    with pytest.raises(PeerError, match=r"storage\.0 unreachable"):
        FirstAnswering([Down(), Down()]).query(Query())
    with pytest.raises(UsageError):
        FirstAnswering([Refuses(), Up()]).query(Query())  # type: ignore[list-item]

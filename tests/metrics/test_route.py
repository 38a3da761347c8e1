"""Route folding and the per-source cardinality cap."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logctl.metrics.route import MAX_ROUTE, OTHER, cap_routes, fold_route


@pytest.mark.parametrize(("path", "route"), [
    ("/users/123", "/users/:id"),
    ("/users/123/orders/456?x=1", "/users/:id/orders/:id"),
    ("/items/550e8400-e29b-41d4-a716-446655440000", "/items/:id"),
    ("/blob/deadbeef1234", "/blob/:id"),
    ("/t/AbCdEfGhIjKlMnOpQrSt9", "/t/:id"),
    ("/static/app.js", "/static/app.js"),
    ("/decade", "/decade"),  # hex letters but no digit: a word, not an id
    ("/v2/api", "/v2/api"),
    ("/", "/"),
    ("*", "*"),
    ("-", "-"),
    ("/search?q=1#frag", "/search"),
])
def test_fold(path: str, route: str) -> None:
    assert fold_route(path) == route


def test_a_segment_the_cut_leaves_like_an_id_is_folded_too() -> None:
    path = "/" + "w" * 252 + "/30N-TimJpCx"  # cut after "/30": an id on its own
    assert fold_route(path) == "/" + "w" * 252 + "/:i"
    assert fold_route("/" + "w" * 253 + "/5") == "/" + "w" * 253 + "/:"


segments = st.one_of(st.integers(0, 10**6).map(str), st.just("deadbeef99"),
                     st.text("ab0-_!.", max_size=30), st.text("0123456789N", min_size=1,
                                                               max_size=8))


@given(st.lists(segments, max_size=40), st.booleans())
def test_a_route_folds_to_itself(parts: list[str], rooted: bool) -> None:
    route = fold_route(("/" if rooted else "") + "/".join(parts))
    assert len(route) <= MAX_ROUTE
    assert fold_route(route) == route


def test_cap_keeps_known_and_folds_the_rest() -> None:
    known = {"/a", "/b"}
    renames = cap_routes({"/a", "/c", "/d"}, known, cap=3)
    assert renames == {"/d": OTHER}
    assert known == {"/a", "/b", "/c", OTHER}
    assert cap_routes({"/e"}, known, cap=3) == {"/e": OTHER}

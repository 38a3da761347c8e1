"""Route folding and the per-source cardinality cap."""

import pytest

from logctl.metrics.route import OTHER, cap_routes, fold_route


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


def test_cap_keeps_known_and_folds_the_rest() -> None:
    known = {"/a", "/b"}
    renames = cap_routes({"/a", "/c", "/d"}, known, cap=3)
    assert renames == {"/d": OTHER}
    assert known == {"/a", "/b", "/c", OTHER}
    assert cap_routes({"/e"}, known, cap=3) == {"/e": OTHER}

"""The cyclic collector's settings: relaxed once per process, paused around an answer."""

import gc
import threading
from collections.abc import Iterator

import pytest

from logctl import collector


@pytest.fixture
def restored() -> Iterator[None]:
    """The test process's collector as it was before, whatever the test did to it."""
    threshold, enabled = gc.get_threshold(), gc.isenabled()
    yield
    gc.set_threshold(*threshold)
    gc.unfreeze()
    (gc.enable if enabled else gc.disable)()


def test_relaxing_freezes_what_is_alive_and_spaces_young_passes(restored: None) -> None:
    gc.set_threshold(700, 10, 10)
    gc.unfreeze()
    collector.relax()
    assert gc.get_threshold() == (100_000, 10, 10)
    assert gc.get_freeze_count() > 1000  # this process's modules, functions and classes


def test_a_pause_holds_the_collector_off_until_the_last_one_ends(restored: None) -> None:
    gc.enable()
    inner_started, outer_may_end = threading.Event(), threading.Event()

    def inner() -> None:
        with collector.paused():
            inner_started.set()
            outer_may_end.wait(5)
            assert not gc.isenabled()

    with collector.paused():
        assert not gc.isenabled()
        worker = threading.Thread(target=inner)
        worker.start()
        inner_started.wait(5)
    assert not gc.isenabled()  # the other answer is still being built
    outer_may_end.set()
    worker.join(5)
    assert gc.isenabled()


def test_a_collector_switched_off_stays_off_after_a_pause(restored: None) -> None:
    gc.disable()
    with collector.paused(), collector.paused():
        assert not gc.isenabled()
    assert not gc.isenabled()

"""Batches cross gRPC as packed columns: the points come back as they went, and a batch
of the older one-message-a-point form is still read."""

from hypothesis import given, settings
from hypothesis import strategies as st

from logctl.formats.combined import CombinedParser
from logctl.metrics.native import aggregate_clf
from logctl.metrics.points import ChunkAggregate
from logctl.pb import storage_pb2 as spb
from logctl.store.base import Batch, Position
from logctl.synthetic import generate
from logctl.transport import wire
from tests.metrics.test_engines import canonical


def round_trip(aggregate: ChunkAggregate) -> ChunkAggregate:
    batch = Batch("web", Position("f", 0, 10), aggregate)
    sent = wire.batch_to_pb(batch).SerializeToString()
    back = wire.batch_from_pb(spb.Batch.FromString(sent))
    assert (back.source, back.position) == ("web", Position("f", 0, 10))
    return back.aggregate


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 1000), per_minute=st.sampled_from([5, 700, 10_000]),
       lines=st.integers(0, 400))
def test_points_come_back_as_they_went(seed: int, per_minute: int, lines: int) -> None:
    data = "".join(generate(lines, seed=seed, per_minute=per_minute)).encode()
    aggregate = aggregate_clf(data + b"junk\n", "auto", CombinedParser())
    back = round_trip(aggregate)
    assert canonical(back) == canonical(aggregate)
    assert len(back.points) == len(aggregate.points)


def test_one_message_a_point_is_still_read() -> None:
    aggregate = aggregate_clf("".join(generate(300, per_minute=50)).encode(), "auto",
                              CombinedParser())
    old = wire.batch_to_pb(Batch("web", Position("f", 0, 10), aggregate))
    old.ClearField("packed")
    old.points.extend(spb.KeyedPoint(minute=minute, host=host, method=method, route=route,
                                     status=status, point=wire.point_to_pb(point))
                      for (minute, host, method, route, status), point
                      in aggregate.points.items())
    back = wire.batch_from_pb(spb.Batch.FromString(old.SerializeToString()))
    assert canonical(back.aggregate) == canonical(aggregate)


def test_a_sparse_batch_is_smaller_packed() -> None:
    aggregate = aggregate_clf("".join(generate(5000, per_minute=700)).encode(), "auto",
                              CombinedParser())
    packed = wire.batch_to_pb(Batch("web", Position("f", 0, 10), aggregate))
    one_each = spb.Batch(points=[
        spb.KeyedPoint(minute=minute, host=host, method=method, route=route, status=status,
                       point=wire.point_to_pb(point))
        for (minute, host, method, route, status), point in aggregate.points.items()])
    assert packed.ByteSize() < 0.8 * one_each.ByteSize()

"""Ask the analytics daemon over gRPC: a summary, the top routes, then follow new minutes.

    python examples/grpc_client.py [HOST:PORT] [--watch SECONDS]

Needs only the generated stubs in logctl/pb (or your own, from protos/logctl/v1)."""

import argparse
import time

import grpc

from logctl.pb import analytics_pb2 as apb
from logctl.pb import analytics_pb2_grpc as apb_grpc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", default="127.0.0.1:7414")
    parser.add_argument("--watch", type=float, default=0.0, help="follow new minutes (s)")
    args = parser.parse_args()
    with grpc.insecure_channel(args.target) as channel:
        analytics = apb_grpc.AnalyticsStub(channel)
        summary = analytics.Summary(apb.MetricsRequest(), timeout=10).summary
        print(f"{summary.requests:,} requests, {summary.errors:,} 5xx "
              f"({summary.error_rate:.2%}), {summary.bytes:,} bytes")
        if summary.HasField("latency_ms"):
            print(f"latency p50 {summary.latency_ms.p50:.1f} ms, "
                  f"p99 {summary.latency_ms.p99:.1f} ms")
        top = analytics.Top(apb.MetricsRequest(by="route", top=5), timeout=10)
        for group in top.groups:
            print(f"{group.summary.requests:>8,}  {group.key}")
        if args.watch:
            follow(analytics, args.watch)


def follow(analytics: apb_grpc.AnalyticsStub, seconds: float) -> None:
    """Print each minute as new data lands in it, for a while."""
    stream = analytics.Watch(apb.MetricsRequest())
    deadline = time.monotonic() + seconds
    try:
        for entry in stream:
            print(f"{entry.t}  {entry.summary.requests:,} requests")
            if time.monotonic() > deadline:
                break
    finally:
        stream.cancel()


if __name__ == "__main__":
    main()

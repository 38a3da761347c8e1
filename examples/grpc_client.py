"""Ask the analytics daemon over gRPC: a summary, the top routes, then follow new minutes.

    LOGCTL_TOKEN=lct_... python examples/grpc_client.py [HOST:PORT] [--watch SECONDS]

A read token goes in the `authorization` metadata (LOGCTL_TOKEN, or --token).
Needs only the generated stubs in logctl/pb (or your own, from protos/logctl/v1)."""

import argparse
import os
import time

import grpc

from logctl.pb import analytics_pb2 as apb
from logctl.pb import analytics_pb2_grpc as apb_grpc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", nargs="?", default="127.0.0.1:7414")
    parser.add_argument("--watch", type=float, default=0.0, help="follow new minutes (s)")
    parser.add_argument("--token", default=os.environ.get("LOGCTL_TOKEN", ""))
    args = parser.parse_args()
    auth = (("authorization", f"Bearer {args.token}"),)
    with grpc.insecure_channel(args.target) as channel:
        analytics = apb_grpc.AnalyticsStub(channel)
        summary = analytics.Summary(apb.MetricsRequest(), timeout=10, metadata=auth).summary
        print(f"{summary.requests:,} requests, {summary.errors:,} 5xx "
              f"({summary.error_rate:.2%}), {summary.bytes:,} bytes")
        if summary.HasField("latency_ms"):
            print(f"latency p50 {summary.latency_ms.p50:.1f} ms, "
                  f"p99 {summary.latency_ms.p99:.1f} ms")
        top = analytics.Top(apb.MetricsRequest(by="route", top=5), timeout=10, metadata=auth)
        for group in top.groups:
            print(f"{group.summary.requests:>8,}  {group.key}")
        if args.watch:
            follow(analytics, args.watch, auth)


def follow(analytics: apb_grpc.AnalyticsStub, seconds: float,
           auth: tuple[tuple[str, str], ...]) -> None:
    """Print each minute as new data lands in it, for a while."""
    stream = analytics.Watch(apb.MetricsRequest(), metadata=auth)
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

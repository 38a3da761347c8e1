"""Wirings of the services: in-process (local), and later REST and gRPC."""

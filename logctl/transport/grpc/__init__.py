"""gRPC wiring (grpc.aio servers, blocking clients) for storage and analytics."""

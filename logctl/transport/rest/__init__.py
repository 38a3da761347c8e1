"""REST wiring: FastAPI apps (one per service) and their httpx clients."""

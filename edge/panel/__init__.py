"""The guards' web panel: FastAPI app factory, routers per resource, templates, static files."""

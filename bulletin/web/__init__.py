"""Web apps: the authoring preview (preview/) and the subscriber service (service/), both
served by server.py (uvicorn on a socket bound beforehand)."""

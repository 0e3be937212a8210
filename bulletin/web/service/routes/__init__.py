"""One APIRouter per group of routes, each in its own module; app.py includes them in this
order: health, unsubscribe, preferences, subscribe and confirm, the archive."""

"""bulletin: compose, check and send email bulletins."""

__version__ = "0.1.0"

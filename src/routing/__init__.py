"""Patient routing: the fastest complete route through a care pathway over real appointment slots."""

from routing._version import __version__

__all__ = ["__version__"]

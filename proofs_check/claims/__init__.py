"""The registered claims; importing this package registers every one of them."""

from . import basic, theorems  # noqa: F401

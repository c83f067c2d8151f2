"""The version of this source tree (the installed package's metadata says the same)."""

__version__ = "0.2.0"

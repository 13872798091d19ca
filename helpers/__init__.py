"""helpers: the tested code behind the video action recognition notebook series.

Each submodule has one job; import what you need (``from helpers.download import
download``). Importing the package itself is cheap and has no side effects.
"""
__version__ = "0.1.0"

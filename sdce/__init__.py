"""sdce: a simulator of synthetic-data markets under model collapse."""

__version__ = "0.1.0"

"""Identifier check algorithms from the national standards, scalar and vectorised."""

"""Data that ships with edgekit (see README.md for attribution)."""

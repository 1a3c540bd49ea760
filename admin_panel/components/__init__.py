"""Reusable UI pieces of the Steward admin panel."""

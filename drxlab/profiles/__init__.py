"""Discharge profiles: processing raw segments into the DRXNet standard form, and importers."""

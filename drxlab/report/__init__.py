"""Figures and the campaign report."""

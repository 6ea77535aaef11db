"""Figures, tables and REPORT.md for a study's results (`bolrl plot`)."""

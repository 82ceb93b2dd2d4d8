"""Evaluation of trained models for the uncertainty sections (paper §4):
out-of-distribution detection and calibration, as tidy rows."""

"""Insight: what a saved model answers for one image, and why (layer outputs, attributions, robustness)."""

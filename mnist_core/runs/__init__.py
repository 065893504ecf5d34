"""Runs: one training or fine-tuning run end to end, from data to a saved model."""

"""Digit Lab's engine: data, models, training, evaluation, checkpoints and drawing preprocessing.

Usable from the CLI (`python -m mnist_core`), the Streamlit pages, tests and notebooks; never imports Streamlit.
"""

"""What the tests, the benchmarks and scripts/screenshots.py share: the real app under `streamlit run` driven in a
real browser, the real data beside the checkout, and made-up handwriting. Nothing in mnist_core imports it."""

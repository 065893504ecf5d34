"""The Streamlit side the pages share, one job per module; the engine (mnist_core) never imports it."""

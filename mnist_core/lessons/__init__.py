"""The numeric work behind Learn's lessons, kept apart from Streamlit so it can be tested on its own."""

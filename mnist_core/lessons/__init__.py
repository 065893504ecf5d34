"""The numbers behind Learn's lessons (no Streamlit here): trainers and small computations a lesson's widget runs."""

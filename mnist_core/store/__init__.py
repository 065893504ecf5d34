"""Store: what is kept on disk (saved models, My digits collections) and who may change it."""

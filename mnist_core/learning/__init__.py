"""Learning: the models, their settings and recipes, and training and scoring them on a device."""

"""Classroom: the app's training queue and the Dask workers that run it, on this computer or a class's cluster."""

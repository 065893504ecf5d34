"""The parts of a dataset one can train or evaluate on (sources.Source.split). Apart from the sources so that the
CLI's parser can name them before torch loads."""

SPLITS = ("train", "test", "all")

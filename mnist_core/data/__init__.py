"""Data: where images come from (datasets, a server's folders) and how a drawing or photo becomes a 28x28 digit."""

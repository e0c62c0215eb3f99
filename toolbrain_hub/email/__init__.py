"""Email search: a synthetic Enron-like corpus (demo) and ART-E questions."""

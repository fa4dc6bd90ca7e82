"""Identifiers, normalisation, the identity graph, merge/unmerge and the review queue."""

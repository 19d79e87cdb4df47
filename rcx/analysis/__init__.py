"""Analyses of results files: proxy-vs-truth correlations and selection experiments."""

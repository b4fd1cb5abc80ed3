"""Evaluation: sample statistics for toy mixtures and image metrics."""

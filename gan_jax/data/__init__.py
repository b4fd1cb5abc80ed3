"""Data: synthetic mixtures drawn inside the step, and image datasets through TFDS."""

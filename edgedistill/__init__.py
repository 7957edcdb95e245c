"""edgedistill: distil a big image model into a small one that holds up on phone photos."""

__version__ = "0.1.0"

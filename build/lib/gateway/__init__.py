"""compuerta: an outbound mail policy gateway for government institutions."""

__version__ = "0.1.0"

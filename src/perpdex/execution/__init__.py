"""HOW to trade safely: pre-flight checks, order tactics, the atomic two-leg executor."""

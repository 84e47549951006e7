"""Funding-rate collection across exchanges and the opportunity finder."""

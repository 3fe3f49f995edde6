"""Dataset contract, synthetic data, validation and import of garments and people."""

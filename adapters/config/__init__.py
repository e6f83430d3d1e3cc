"""Settings files: reading TOML/YAML into validated models, and the shipped risk profiles."""

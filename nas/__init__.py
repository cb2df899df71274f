"""One-shot architecture search for ViTs under a deployed memory budget."""

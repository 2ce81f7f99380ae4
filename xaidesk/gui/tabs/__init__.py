"""One tab per modality."""

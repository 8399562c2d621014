"""Small helpers shared by every layer: config validation, pretrained-weight lookup, image I/O."""

"""Stage convert: the validated faces → uint8 arrays per split and their manifest."""

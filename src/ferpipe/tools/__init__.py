"""Tools around the pipeline: predict, ensemble, compare and summary on trained models; budget before training."""

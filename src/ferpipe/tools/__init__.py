"""Tools that work on trained models, after the pipeline: predict, ensemble, compare."""

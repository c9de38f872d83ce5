"""Stage evaluate: the trained model on test (PrivateTest), once; metrics, plots, registry."""

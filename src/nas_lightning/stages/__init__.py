"""The run's stages, in order: ``search`` (a genotype), ``train`` (its network, fitted), ``export`` (float
and int8 ONNX, optionally quantization-aware), ``evaluate`` (the one look at the test split, then the
report). ``pipeline.run`` calls them in that order; each takes the previous one's result."""

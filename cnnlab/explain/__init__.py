"""The concept lab: convolution, padding, stride, pooling, ReLU and XOR worked out on
the learner's own numbers, in text and pictures. Pure NumPy (Keras only to check XOR);
every result equals what the matching Keras layer computes (tests compare them)."""

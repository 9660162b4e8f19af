"""cnnlab: a command-line lab for convolutional neural networks on tf.keras.

Stage modules (config, data, models, train, evaluate, visualize) are usable
without the CLI, e.g. ``cnnlab.train.train(cnnlab.config.load_config(path))``.
TensorFlow is imported lazily by the stages so that ``cnnlab --help`` is instant.
"""

__version__ = "0.1.0"

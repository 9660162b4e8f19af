"""cnnlab: a command-line lab for convolutional neural networks on tf.keras.

One subpackage per stage (config, data, model, train, inspect; cli on top), usable
without the CLI, e.g. ``cnnlab.train.train(cnnlab.config.load_config(path))``.
The README's module map shows which way their imports point.
TensorFlow is imported lazily by the stages so that ``cnnlab --help`` is instant.
"""

__version__ = "0.1.0"

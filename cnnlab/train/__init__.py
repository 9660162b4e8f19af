"""Training: the loop (``train``), compiling, phases, the RunState every callback shares,
the per-epoch backup and ``--resume``, and Ctrl-C/SIGTERM handling.

    from cnnlab.config import load_config
    from cnnlab.train import train
    run_dir = train(load_config("configs/fashion.yaml"))
"""

__all__ = ["train"]


def __getattr__(name):
    # Lazy, so that importing a light submodule (signals, timing, state) does not start
    # TensorFlow through the loop's imports.
    if name == "train":
        from cnnlab.train.loop import train

        return train
    raise AttributeError(f"module 'cnnlab.train' has no attribute {name!r}")

"""Training: the loop (``train``), compiling, phases, the RunState every callback shares,
the per-epoch backup and ``--resume``, and Ctrl-C/SIGTERM handling.

    from cnnlab.config import load_config
    from cnnlab.train import train
    run_dir = train(load_config("configs/fashion.yaml"))
"""

from cnnlab.train.loop import train

__all__ = ["train"]

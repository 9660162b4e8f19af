"""Looking at trained runs: evaluation (``evaluate``), ``cnnlab visualize`` (a registry
of kinds in ``kinds``, computed by ``probes``, drawn by ``draw``), layer lookup
(``layer_paths``) and the augmentation preview (``preview``)."""

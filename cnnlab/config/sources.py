"""The data source fact sheet: every ``data.source`` cnnlab can read, as data.

The config's ``data.source`` choices come from here, without importing the loaders
(or TensorFlow). Each loader is named "module:function" and has one signature,
``load(data_cfg, seed) -> cnnlab.data.RawData``. A new source is one module in
cnnlab/data/ plus one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    loader: str  # "module:function", imported only when the source is read
    needs_path: bool  # data.path is required (a file or folder of the user's)
    description: str


SOURCES: dict[str, Source] = {
    "fashion_mnist": Source("cnnlab.data.idx:load_fashion_mnist", False, "Fashion-MNIST (IDX files, found or downloaded)"),
    "mnist": Source("cnnlab.data.idx:load_mnist", False, "MNIST digits (IDX files, found or downloaded)"),
    "npz": Source("cnnlab.data.npz:load_npz", True, "an .npz file with x_train, y_train, x_test, y_test"),
    "directory": Source("cnnlab.data.directory:load_directory", True, "a folder with one sub-folder of images per class"),
}

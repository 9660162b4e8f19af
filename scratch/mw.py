import json, os, sys, time
import numpy as np
idx, n, port0 = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"localhost:{port0+i}" for i in range(n)]}, "task": {"type": "worker", "index": idx}})
from cnnlab.backend import keras, tf
strategy = tf().distribute.MultiWorkerMirroredStrategy()
from cnnlab.config import load_config
from cnnlab.data import load_dataset, make_pipeline
cfg = load_config("configs/fashion.yaml", ["data.limit=600"])
k = keras(); tf = tf()
print("replicas", strategy.num_replicas_in_sync, flush=True)
k.utils.set_random_seed(42)
data = load_dataset(cfg.data, 42)
from cnnlab.models import build_model
with strategy.scope():
    model = build_model(cfg, data.input_shape, data.num_classes)
    model.compile(optimizer=k.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
ds = make_pipeline(data.x_train, data.y_train, 32, shuffle=True, seed=42)
val = make_pipeline(data.x_val, data.y_val, 32, shuffle=False, seed=42)
if os.environ.get("PATCH") == "1":
    import cnnlab.keras_patches as p; print("patched", p.apply())
h = model.fit(ds, validation_data=val, epochs=2, verbose=0)
print(idx, h.history, flush=True)
w = model.get_weights()
np.save(f"/tmp/mw_w{idx}.npy", np.concatenate([x.ravel() for x in w]))

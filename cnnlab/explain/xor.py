"""XOR: why one linear unit fails and two hidden units succeed.

Inputs X (4, 2) are the truth table rows; a network is Dense(2, act) -> Dense(1, out_act)
with weights set by hand (HIDDEN_NETS) so every number can be checked on paper; the
same weights in Keras give the same outputs (tests compare them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab.errors import ConfigError

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
Y = np.array([0, 1, 1, 0], dtype=np.float64)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


ACTIVATIONS = {"sigmoid": sigmoid, "relu": lambda z: np.maximum(z, 0.0), "linear": lambda z: z}


@dataclass(frozen=True)
class XorNet:
    activation: str  # hidden units
    w1: np.ndarray  # (2 inputs, 2 hidden units)
    b1: np.ndarray  # (2,)
    w2: np.ndarray  # (2 hidden units, 1)
    b2: np.ndarray  # (1,)
    output: str  # output unit's activation
    idea: str

    def hidden(self, x: np.ndarray) -> np.ndarray:  # (N, 2) -> (N, 2) activations a1, a2
        return ACTIVATIONS[self.activation](x @ self.w1 + self.b1)

    def predict(self, x: np.ndarray) -> np.ndarray:  # (N, 2) -> (N,)
        return ACTIVATIONS[self.output](self.hidden(x) @ self.w2 + self.b2)[:, 0]


# activation -> hand-set weights. a1 fires only for (1, 0), a2 only for (0, 1); the
# output unit adds them (an OR), which no longer needs a bent line.
HIDDEN_NETS = {
    "sigmoid": XorNet("sigmoid", np.array([[20.0, -20.0], [-20.0, 20.0]]), np.array([-10.0, -10.0]),
                      np.array([[20.0], [20.0]]), np.array([-10.0]), "sigmoid",
                      "a1 = sigmoid(20*x1 - 20*x2 - 10) is 1 only for (1,0); a2 = sigmoid(-20*x1 + 20*x2 - 10) "
                      "only for (0,1); y = sigmoid(20*a1 + 20*a2 - 10) is 'a1 or a2'"),
    "relu": XorNet("relu", np.array([[0.5, -0.5], [-0.5, 0.5]]), np.array([0.0, 0.0]),
                   np.array([[2.0], [2.0]]), np.array([0.0]), "linear",
                   "a1 = relu(0.5*x1 - 0.5*x2) is 0.5 only for (1,0); a2 = relu(-0.5*x1 + 0.5*x2) only for (0,1); "
                   "y = 2*a1 + 2*a2"),
}


def hidden_net(activation: str) -> XorNet:
    if activation not in HIDDEN_NETS:
        raise ConfigError(f"--activation {activation!r} is not known; use one of {', '.join(HIDDEN_NETS)}")
    return HIDDEN_NETS[activation]


def least_squares_line() -> np.ndarray:
    """The best straight-line fit y ~ w1*x1 + w2*x2 + b: (w1, w2, b)."""
    design = np.c_[X, np.ones(len(X))]
    return np.linalg.lstsq(design, Y, rcond=None)[0]


@dataclass(frozen=True)
class LineAttempt:
    weights: np.ndarray  # (w1, w2, b) of the best line found
    correct: int  # rows it classifies correctly (never 4 for XOR)
    tried: int
    wrong_rows: list  # the (x1, x2) rows it gets wrong


def best_line(step: float = 0.5, limit: float = 2.0) -> LineAttempt:
    """Try every line w1*x1 + w2*x2 + b = 0 on a grid of weights (y = 1 where > 0): the
    best gets 3 of 4 rows right, never 4 (the inequalities in text.xor_text say why)."""
    values = np.arange(-limit, limit + step / 2, step)
    design = np.c_[X, np.ones(len(X))]
    best, best_correct, tried = None, -1, 0
    for w1 in values:
        for w2 in values:
            for b in values:
                tried += 1
                w = np.array([w1, w2, b])
                correct = int(((design @ w > 0).astype(float) == Y).sum())
                if correct > best_correct:
                    best, best_correct = w, correct
    wrong = [tuple(int(v) for v in x) for x, row, t in zip(X, design, Y) if float(row @ best > 0) != t]
    return LineAttempt(best, best_correct, tried, wrong)


def keras_model(net: XorNet):
    """The same network as a Keras model with the hand-set weights."""
    from cnnlab.backend import keras

    k = keras()
    model = k.Sequential([k.Input((2,)), k.layers.Dense(2, activation=net.activation),
                          k.layers.Dense(1, activation=net.output)])
    model.layers[0].set_weights([net.w1, net.b1])
    model.layers[1].set_weights([net.w2, net.b2])
    return model


def train_keras(activation: str, seed: int = 0, steps: int = 300) -> XorNet:
    """Fit Dense(2, activation) -> Dense(1, sigmoid) on the 4 rows with Keras, seeded.
    Two hidden units can get stuck (a dead ReLU, a flat sigmoid): the caller reports it."""
    from cnnlab.backend import keras, tf

    k = keras()
    k.utils.set_random_seed(seed)
    model = k.Sequential([k.Input((2,)), k.layers.Dense(2, activation=activation),
                          k.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=k.optimizers.Adam(0.1), loss="binary_crossentropy")
    # one epoch of `steps` full-batch steps: 300 separate epochs would spend seconds in per-epoch overhead
    data = tf().data.Dataset.from_tensors((X.astype("float32"), Y.astype("float32"))).repeat(steps)
    model.fit(data, epochs=1, verbose=0, shuffle=False)
    (w1, b1), (w2, b2) = model.layers[0].get_weights(), model.layers[1].get_weights()
    return XorNet(activation, w1.astype(np.float64), b1.astype(np.float64), w2.astype(np.float64),
                  b2.astype(np.float64), "sigmoid", f"Adam 0.1, {steps} full-batch steps, seed {seed}")

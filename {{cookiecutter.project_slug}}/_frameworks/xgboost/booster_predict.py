"""`Booster.inplace_predict`, without the costs that have nothing to do with the trees.

For one row of the sample model (200 trees of depth 6), `inplace_predict` takes about 80 us,
of which the trees take about 20:

- about 40 us is the Python wrapper: its checks for every kind of data frame, and the result
  turned into a NumPy array by way of a class it defines anew at each call;
- about 20 us is a new proxy matrix, which XGBoost makes when it is given none: each one reads
  the cgroup's CPU quota from /sys, several system calls per prediction.

`BoosterPredict` makes the same C call (XGBoosterPredictFromDense, XGBoost's public C API) with
a proxy matrix kept per thread, and copies the result out directly (README.md, "Serve your own
model", gives what that gains under load).

It predicts values ("type 0": probabilities for a classifier), over every tree, from a matrix
of numbers (copied to float32 first unless it is float32 or float64 already: XGBoost computes in
float32). For
margins, call `booster.inplace_predict(x, predict_type="margin")`; for leaf indices or feature
contributions, `booster.predict(xgb.DMatrix(x), pred_leaf=True)` or `pred_contribs=True`.
"""

import ctypes
import json
import math
import threading
import weakref
from typing import Any

import numpy as np
import xgboost as xgb
from numpy.typing import NDArray

# The library that xgboost loaded (private, but the C API has no other handle in Python):
# its Booster handles are valid only through it. xgboost.core defines it up to xgboost 3.3,
# and imports it from xgboost._c_api since; either way it is in xgboost.core's namespace.
_LIB: Any = vars(xgb.core)["_LIB"]

# inplace_predict's configuration for plain values: every tree, NaN as the missing value.
PREDICT_VALUES = json.dumps(
    {
        "type": 0,
        "training": False,
        "iteration_begin": 0,
        "iteration_end": 0,
        "strict_shape": False,
        "missing": float("nan"),
        "cache_id": 0,
    }
).encode()


# The input types XGBoost reads as they are.
FLOATS = {np.dtype(np.float32), np.dtype(np.float64)}


def _check(status: int) -> None:
    if status != 0:
        raise xgb.core.XGBoostError(_LIB.XGBGetLastError().decode())


class _ProxyMatrix:
    """A proxy DMatrix: XGBoost points it at each input matrix in turn, copying nothing."""

    def __init__(self) -> None:
        self.handle = ctypes.c_void_p()
        _check(_LIB.XGProxyDMatrixCreate(ctypes.byref(self.handle)))
        # Not at exit: a daemon thread may still be predicting with it then.
        weakref.finalize(self, _LIB.XGDMatrixFree, self.handle).atexit = False


class BoosterPredict:
    """Call a loaded Booster: `BoosterPredict(booster)(x)` equals `booster.inplace_predict(x)`.

    Safe to call from several threads at once, as inplace_predict is: each thread has a proxy
    matrix of its own, and XGBoost keeps each thread's result apart until its next call.
    """

    def __init__(self, booster: xgb.Booster) -> None:
        self._booster = booster
        self._features = booster.num_features()
        self._proxies = threading.local()

    def __call__(self, x: NDArray[Any]) -> NDArray[np.float32]:
        x = np.asarray(x)
        # XGBoost reads float32 and float64 (converting each value as NumPy would) in place.
        if x.dtype not in FLOATS or not x.flags.c_contiguous:
            if x.dtype.kind not in "biuf":
                raise TypeError(f"expected a matrix of numbers, got one of {x.dtype}")
            with np.errstate(over="ignore"):  # beyond float32's range: infinite, as in XGBoost
                x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self._features:
            raise ValueError(
                f"expected a matrix of {self._features} columns, got one of shape {x.shape}"
            )
        if len(x) == 0:
            return np.empty(0, dtype=np.float32)  # as inplace_predict returns, for any model
        proxy = getattr(self._proxies, "matrix", None)
        if proxy is None:
            proxy = self._proxies.matrix = _ProxyMatrix()
        interface = b'{"data":[%d,true],"shape":[%d,%d],"typestr":"%s","version":3}' % (
            x.__array_interface__["data"][0],
            *x.shape,
            x.dtype.str.encode(),
        )
        shape = ctypes.POINTER(ctypes.c_uint64)()
        dims = ctypes.c_uint64()
        values = ctypes.POINTER(ctypes.c_float)()
        _check(
            _LIB.XGBoosterPredictFromDense(
                self._booster.handle,
                interface,
                PREDICT_VALUES,
                proxy.handle,
                ctypes.byref(shape),
                ctypes.byref(dims),
                ctypes.byref(values),
            )
        )
        out_shape = tuple(shape[: dims.value])
        size = math.prod(out_shape)
        # Copied at once: the buffer is XGBoost's, reused by this thread's next call.
        buffer = (ctypes.c_float * size).from_address(ctypes.addressof(values.contents))
        return np.frombuffer(buffer, dtype=np.float32).reshape(out_shape).copy()

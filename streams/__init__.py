"""Stream builders, importable as ``lifelong_reid.streams``. Each returns a :class:`ReIDBenchmark`: an
Avalanche benchmark whose ``train_stream`` holds one experience per training step and whose
``query_stream`` / ``gallery_stream`` hold one experience per evaluation domain.

- ``benchmark.py``: :class:`ReIDBenchmark` and :func:`to_avalanche`;
- ``static.py``: one dataset, one experience (supervised benchmarks);
- ``lifelong.py``: an ordered list of training domains plus unseen test domains;
- ``synthetic.py``: the same streams on the synthetic generator (offline default);
- ``settings.py``: the named lifelong settings (orders, unseen domains, 500-identity limit);
- ``generalization.py``: MUVA's domain-generalization protocols (single-source, leave-one-out);
- ``named.py``: :func:`build_stream` for the names users type (``lreid-setting1``, ``lifelong:A,B``, ...).
"""
from lifelong_reid.streams.benchmark import ReIDBenchmark, to_avalanche
from lifelong_reid.streams.lifelong import lifelong_stream
from lifelong_reid.streams.static import static_stream
from lifelong_reid.streams.synthetic import synthetic_lifelong_stream
from lifelong_reid.streams.named import build_stream, stream_names

__all__ = ["ReIDBenchmark", "to_avalanche", "lifelong_stream", "static_stream", "synthetic_lifelong_stream", "build_stream",
           "stream_names"]

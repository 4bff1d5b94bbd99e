"""Weight clustering with TF-MOT: each kernel keeps at most ``clusters`` unique values.

Clustering does not shrink the ``.tflite`` by itself (weights are still stored one per value),
but a kernel with 16 distinct values compresses far better (gzip, OTA updates), and after
int8 conversion the values stay on the shared centroids. After pruning, clustering runs
sparsity-preserving (zeros stay zero), and QAT afterwards uses the cluster-preserving schemes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from edgekit._compat import tfmot
from edgekit.compression.base import CompressionStep
from edgekit.compression.layers import SkippedLayer, all_layers, check_names, check_patterns, wrap_layers
from edgekit.compression.sparsity import kernel_sparsity, unique_weights_per_kernel, weight_base_name
from edgekit.errors import EdgekitError, InputError, ModelError
from edgekit.training.train import TrainData, fit
from edgekit.vocabulary import CLUSTER_INITS

__all__ = ["check_cluster_layers", "Cluster"]

# edgekit.vocabulary.CLUSTER_INITS -> TF-MOT's CentroidInitialization member.
INITS = dict(zip(CLUSTER_INITS, ("KMEANS_PLUS_PLUS", "DENSITY_BASED", "LINEAR", "RANDOM")))


@dataclass(kw_only=True)
class Cluster(CompressionStep):
    """Cluster every supported kernel into ``clusters`` centroids and fine-tune.

    ``per_layer`` gives some layers (by name) their own count: a large dense kernel at 4
    clusters stores 2-bit indices on a microcontroller (LUT compression) where 16 need 4.
    """

    clusters: int = 16
    per_layer: Mapping[str, int] = field(default_factory=dict)
    epochs: int = 2
    learning_rate: float = 1e-4
    init: str = "kmeans++"
    preserve_sparsity: bool = False
    exclude: tuple[str, ...] = ()
    name: str = "cluster"
    skipped: list[SkippedLayer] = field(default_factory=list)
    clustered_layers: list[str] = field(default_factory=list)

    def apply(self, model, data: TrainData):
        wrapped = self.wrap(model)
        if not self.clustered_layers:
            return model
        fit(wrapped, data, epochs=self.epochs, learning_rate=self.learning_rate, stage=self.name)
        return wrapped

    def wrap(self, model):
        clustering = tfmot().clustering.keras
        if self.init not in INITS:
            raise InputError(f"unknown cluster init {self.init!r}", hint=f"choose one of: {', '.join(CLUSTER_INITS)}")
        check_patterns(model, self.exclude, key="cluster.exclude")
        check_cluster_layers(model, self.per_layer)
        params = {
            "cluster_centroids_init": getattr(clustering.CentroidInitialization, INITS[self.init]),
            "preserve_sparsity": self.preserve_sparsity,
        }
        wrapped, self.skipped = wrap_layers(
            model,
            step=self.name,
            wrap=lambda layer: clustering.cluster_weights(layer, number_of_clusters=self.clusters_of(layer.name), **params),
            supports=self._unsupported,
            exclude=self.exclude,
        )
        self.clustered_layers = [
            layer.layer.name for layer in wrapped.submodules if type(layer).__name__.startswith("ClusterWeights")
        ]
        self._check_per_layer_applied()
        return wrapped

    def _check_per_layer_applied(self) -> None:
        """A per-layer count for a layer left unclustered (excluded, unsupported, too few
        weights) would be reported as applied while nothing happened: refuse it, with why."""
        reasons = {skipped.layer: skipped.reason for skipped in self.skipped}
        for name in self.per_layer:
            if name not in self.clustered_layers:
                raise ModelError(f"cluster.layers: layer {name!r} is not clustered: {reasons.get(name, 'it has no kernel to cluster')}", hint="remove it from [cluster] layers, or change what keeps it out")

    def clusters_of(self, layer: str) -> int:
        return int(self.per_layer.get(layer, self.clusters))

    def _unsupported(self, layer) -> str | None:
        from tensorflow_model_optimization.python.core.clustering.keras.clusterable_layer import ClusterableLayer
        from tensorflow_model_optimization.python.core.clustering.keras.clustering_registry import ClusteringRegistry

        kernels = _kernels(layer)
        if not kernels:
            return ""  # pooling, BatchNormalization...: nothing to cluster
        if not isinstance(layer, ClusterableLayer) and not ClusteringRegistry.supports(layer):
            return "not supported by TF-MOT clustering (no ClusteringRegistry entry, not a ClusterableLayer)"
        if _registry_weights(layer) == []:  # registered, with nothing to cluster: it would pass through unchanged
            return f"TF-MOT does not cluster {type(layer).__name__} (its registry lists no weights: the accuracy loss did not recover in its tests)"
        kernel = kernels[0]
        if int(kernel.shape.num_elements()) <= self.clusters_of(layer.name):
            return f"too few weights ({kernel.shape.num_elements()}) for {self.clusters_of(layer.name)} clusters"
        return None

    def strip(self, model):
        if not self.clustered_layers:
            return model  # nothing was wrapped (e.g. a subclassed model)
        return tfmot().clustering.keras.strip_clustering(model)

    def verify(self, model) -> dict:
        """Each clustered kernel must hold at most its cluster count of distinct values after stripping."""
        unique = _clustered_unique_values(model, self.clustered_layers)
        over = {name: count for name, count in unique.items() if count > self.clusters_of(name)}
        if over:
            limits = {name: self.clusters_of(name) for name in over}
            raise EdgekitError(f"after strip_clustering these kernels have more distinct values than their clusters {limits}: {over}")
        report = {
            "clusters": self.clusters,
            "clusters_per_layer": {name: self.clusters_of(name) for name in self.per_layer},
            "init": self.init,
            "preserve_sparsity": self.preserve_sparsity,
            "clustered_layers": list(self.clustered_layers),
            "unique_weights_per_kernel": unique,
        }
        if self.preserve_sparsity:
            report["sparsity_after_strip"] = round(kernel_sparsity(model, layers=self.clustered_layers)["overall"], 5)
        return report


def check_cluster_layers(model, per_layer: Mapping[str, int], *, key: str = "cluster.layers") -> None:
    """Refuse a per-layer count for a layer the model lacks or one with no kernel (a pooling
    layer, a Flatten): it would cluster nothing, yet the report would claim the count."""
    check_names(model, per_layer, key=key)
    layers = {layer.name: layer for layer in all_layers(model)}
    with_kernels = sorted(name for name, layer in layers.items() if _kernels(layer))
    for name in per_layer:
        if not _kernels(layers[name]):
            raise ModelError(f"{key}: layer {name!r} ({type(layers[name]).__name__}) has no kernel to cluster", hint=f"name a layer with a kernel: {', '.join(with_kernels)}")


def _registry_weights(layer) -> list[str] | None:
    """The weight names TF-MOT's registry clusters in this built-in layer (a SeparableConv2D:
    only its pointwise kernel); None for a layer the registry does not list by class."""
    from tensorflow_model_optimization.python.core.clustering.keras.clustering_registry import ClusteringRegistry

    names = getattr(ClusteringRegistry, "_LAYERS_WEIGHTS_MAP", {}).get(type(layer))
    return None if names is None else list(names)


def _clustered_unique_values(model, names: list[str]) -> dict[str, int]:
    """Layer name -> distinct values in the kernel TF-MOT clustered there: the registry's
    weights where it names others than ``kernel`` (a separable conv's pointwise half)."""
    import numpy as np

    unique = unique_weights_per_kernel(model, layers=names)
    for layer in all_layers(model):
        wanted = _registry_weights(layer) if layer.name in names else None
        values = [w.numpy().ravel() for w in layer.weights if wanted and wanted != ["kernel"] and weight_base_name(w) in wanted]
        if values:
            unique[layer.name] = int(np.unique(np.concatenate(values)).size)
    return unique


def _kernels(layer) -> list:
    return [w for w in layer.trainable_weights if "kernel" in w.name.split("/")[-1]]

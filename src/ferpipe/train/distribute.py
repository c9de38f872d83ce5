"""`train.distribute`: how training spreads over devices and machines, with tf.distribute's own strategies.

- none: the default device.
- mirrored: every local GPU (MirroredStrategy); on a machine without one, its CPU as a single replica.
- multi_worker: synchronous training over the machines listed in the TF_CONFIG environment
  variable (MultiWorkerMirroredStrategy). Each machine runs the same `ferpipe train` in its own
  checkout; the global batch (`train.batch_size`) is split between the workers, gradients are
  all-reduced, and every worker ends with the same weights. The chief (task "chief", or worker 0
  when there is none) logs to MLflow; every worker writes its own outputs and checkpoints.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import tensorflow as tf

log = logging.getLogger(__name__)


class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """tf.distribute's multi-worker strategy, with `reduce` taking what Keras 3's `fit` hands it.

    Keras 3.15 (keras-team/keras#20585, open) asks this strategy to reduce a nested (images,
    labels) batch, which MirroredStrategy accepts and this one rejects, and to reduce scalar
    step logs "along axis 0", which no scalar has. Reducing each value on its own, across
    replicas only when it is a scalar, is what both calls mean.
    """

    def reduce(self, reduce_op: Any, value: Any, axis: int | None) -> Any:
        reduce_across_replicas = super().reduce

        def reduce_one(one: Any) -> Any:
            local = one.values[0] if isinstance(one, tf.distribute.DistributedValues) else one
            return reduce_across_replicas(reduce_op, one, axis if tf.convert_to_tensor(local).shape.rank else None)

        return tf.nest.map_structure(reduce_one, value)


def distribution(kind: str) -> tuple[Any, bool]:
    """The strategy for `kind` and whether this process is the chief. Call before any other TensorFlow work."""
    if kind == "none":
        return tf.distribute.get_strategy(), True
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy(), True
    if kind != "multi_worker":
        raise ValueError(f"train.distribute: unknown strategy {kind!r}; known: none, mirrored, multi_worker")
    try:
        cluster = json.loads(os.environ["TF_CONFIG"])
        cluster_spec = cluster["cluster"]
        int(cluster["task"]["index"])
    except (KeyError, TypeError):
        raise ValueError(
            'train.distribute=multi_worker needs TF_CONFIG: {"cluster": {"worker": ["host:port", ...]}, '
            '"task": {"type": "worker", "index": i}}'
        ) from None
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON: {error}") from None
    warn_of_open_port(cluster)
    strategy = MultiWorkerMirroredStrategy()
    task_type, task_id = strategy.cluster_resolver.task_type, strategy.cluster_resolver.task_id
    chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in cluster_spec)
    return strategy, chief


def warn_of_open_port(cluster: dict) -> None:
    """TensorFlow's worker server binds 0.0.0.0 (its gRPC server takes no address to listen on),
    whatever host TF_CONFIG names, and it has no authentication: say so before it starts."""
    task = cluster["task"]
    addresses = cluster["cluster"].get(task.get("type", "worker"), [])
    address = addresses[int(task["index"])] if int(task["index"]) < len(addresses) else "?"
    port = str(address).rpartition(":")[2]
    log.warning(
        "train.distribute=multi_worker: TensorFlow's worker server will listen on port %s of every network "
        "interface, not only %s, and takes commands from anyone who reaches it: keep the port private "
        "(a firewall, or a network only the workers share; docs/training.md, scaling out)",
        port,
        address,
    )

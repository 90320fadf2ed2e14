"""Picking a tf.distribute strategy, and who is the chief."""

import json
import os

import tensorflow as tf

STRATEGIES = ("one_device", "mirrored", "multi_worker")


def configure_cpu_devices(count):
    """Splits the CPU into `count` logical devices (for MirroredStrategy without GPUs).

    Must run before TensorFlow initializes its devices (before any tensor is created).
    """
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError as error:
        raise RuntimeError(
            f"Could not split the CPU into {count} logical devices: TensorFlow was already "
            "initialized. Call configure_cpu_devices() first thing in the process."
        ) from error


def make_strategy(name, devices=None):
    """'one_device' | 'mirrored' (local devices; `devices` logical CPUs when no GPU) | 'multi_worker'.

    'multi_worker' reads the cluster from the TF_CONFIG environment variable and blocks until
    every worker has connected.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; accepted: {list(STRATEGIES)}.")
    if name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    if name == "mirrored":
        if devices and not tf.config.list_physical_devices("GPU"):
            configure_cpu_devices(devices)
        local = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in local])
    if "TF_CONFIG" not in os.environ:
        raise ValueError(
            "strategy 'multi_worker' needs the TF_CONFIG environment variable, e.g. "
            '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}.'
        )
    try:
        json.loads(os.environ["TF_CONFIG"])
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON: {error}.") from None
    return tf.distribute.MultiWorkerMirroredStrategy()


def task_of(strategy):
    """(task_type, task_id) of this process; (None, 0) outside a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return None, 0
    return resolver.task_type, resolver.task_id


def is_chief(strategy):
    """Only the chief writes checkpoints, logs and exports."""
    task_type, task_id = task_of(strategy)
    if task_type is None or task_type == "chief":
        return True
    cluster = strategy.cluster_resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and "chief" not in cluster

"""Embedded real data sets (offline) and the user's own data as tf.data pipelines."""

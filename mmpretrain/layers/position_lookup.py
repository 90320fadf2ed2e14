"""Shared helper: look up learned position vectors for all or some positions."""

from keras import ops


def lookup_positions(table, positions, sequence_length):
    """Returns position vectors [B or 1, N, D] from `table` [P, D].

    `positions` [B, N] int picks rows (MAE-style visible subsets); None means 0..N-1.
    """
    if positions is None:
        return ops.expand_dims(table[:sequence_length], 0)
    return ops.take(table, ops.cast(positions, "int32"), axis=0)


def check_length(sequence_length, max_length, what):
    """Raises a clear ValueError when a static length exceeds the position table."""
    if isinstance(sequence_length, int) and sequence_length > max_length:
        raise ValueError(
            f"Received {sequence_length} {what}, but this embedding has positions for at most "
            f"{max_length}. Truncate the input in the preprocessor or build the model with a "
            f"larger maximum."
        )

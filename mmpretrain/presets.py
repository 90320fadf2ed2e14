"""Named model sizes: the one table every command and test takes sizes from."""

BACKBONE_PRESETS = {
    # For tests and the few-minute demo on 2 CPU cores.
    "tiny": dict(num_layers=2, hidden_dim=64, num_heads=2, intermediate_dim=256),
    # Four layers at d=128 (0.8M parameters outside the embeddings): the demo tier's size
    # candidate (configs/mini.py: 6,000 steps in about 22 minutes on 2 busy cores).
    "mini": dict(num_layers=4, hidden_dim=128, num_heads=4, intermediate_dim=512),
    # The smallest size that transfers well; minutes to an hour of CPU pretraining.
    "small": dict(num_layers=4, hidden_dim=256, num_heads=4, intermediate_dim=1024),
    # BERT-base / ViT-B sized; for machines with accelerators.
    "base": dict(num_layers=12, hidden_dim=768, num_heads=12, intermediate_dim=3072),
}


def backbone_preset(name):
    """The keyword arguments of preset `name` (ValueError naming the presets if unknown)."""
    if name not in BACKBONE_PRESETS:
        raise ValueError(f"Unknown preset {name!r}. Available presets: {sorted(BACKBONE_PRESETS)}.")
    return dict(BACKBONE_PRESETS[name])

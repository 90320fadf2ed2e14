"""Pretraining configs: each module defines CONFIG = PretrainConfig(...); its docstring says how to
run it, how long it takes and what it should reach."""

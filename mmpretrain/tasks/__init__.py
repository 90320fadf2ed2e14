"""Tasks: a backbone plus heads, with the losses and metrics of one job."""

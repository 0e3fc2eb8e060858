"""The control plane: run state, control events and heartbeats in the results store."""

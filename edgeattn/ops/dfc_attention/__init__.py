"""DFCAttention: GhostNetV2 decoupled fully connected attention gate."""

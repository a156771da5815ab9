"""SingleHeadAttention: SHViT single-head self-attention over channel-first tokens."""

"""MultiHeadAttention: per-head softmax attention with optional bias and key mask."""

"""ReLULinearAttention: EfficientViT-B/L LiteMLA ReLU linear attention."""

"""TensorRT plugin of MultiHeadAttention: the C++ source and the kernel launches it makes."""

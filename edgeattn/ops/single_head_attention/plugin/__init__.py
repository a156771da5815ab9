"""TensorRT plugin of SingleHeadAttention: the C++ source and the kernel launches it makes."""

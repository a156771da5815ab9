"""TensorRT plugin of SetAttention: the C++ source and the kernel launch it makes."""

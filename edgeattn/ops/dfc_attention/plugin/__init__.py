"""TensorRT plugin of DFCAttention: the C++ source and the kernel launch it makes."""

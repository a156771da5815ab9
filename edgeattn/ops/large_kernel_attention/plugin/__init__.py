"""TensorRT plugin of LargeKernelAttention: the C++ source and the kernel launch it makes."""

"""TensorRT plugin of ReLULinearAttention: the C++ source and the kernel launches it makes."""

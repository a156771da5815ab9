"""Reduced precision: fp16 with fp32 islands, INT8 calibration with head-wise reparameterisation."""

"""The edgeattn op catalogue: one folder per op, each with a single fp32 reference."""

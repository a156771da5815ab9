"""LiDAR inputs for voxel backbones (DSVT): voxelizer, synthetic scenes, set partition, TRT profiles.

Everything here runs outside the exported graph (as the DSVT authors deploy it): it may use
data-dependent torch ops such as `torch.unique`, and it is vectorised (no Python loops over points).
"""

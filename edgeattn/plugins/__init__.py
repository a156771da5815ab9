"""edgeattn's TensorRT plugin library: C++ IPluginV3 plugins running AOT-compiled Triton kernels.

The C++ framework lives here (`include/`, `src/`, `CMakeLists.txt`); each op's plugin lives in
`edgeattn/ops/<op>/plugin/`. The Python modules pick the kernel variants a plugin graph needs
(`variants`), compile them to cubins (`compile`), build the library with CMake (`build`) and check
the cubins (`cubin_check`). Importing this package imports nothing heavy.
"""

from pathlib import Path

SOURCE_DIR = Path(__file__).parent
"""The CMake project of the plugin library."""

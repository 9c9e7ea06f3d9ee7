"""paperscope's tests. Imported before conftest.py and any test module, so this is where the test
processes get the setup every paperscope process gets (`paperscope.runtime`): one OpenBLAS thread, set
before numpy loads. Left at one thread per core, the pytest-xdist workers' matrix products spin-wait on
each other's cores (a 384 x 384 eigendecomposition: twice the CPU for the same wall time)."""

from paperscope.runtime import configure_process

configure_process()

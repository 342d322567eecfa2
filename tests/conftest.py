"""Fixtures shared by test modules."""
import pytest


@pytest.fixture(scope="module")
def torch_one_thread():
    """One intra-op torch thread for the module: on a 2-core machine shared with other jobs,
    torch's thread pool made DenseNet's small convolutions 30x slower (16 s instead of 0.5 s)."""
    torch = pytest.importorskip("torch")
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)

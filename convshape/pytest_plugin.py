"""pytest plugin (entry point `pytest11`): check nn.Modules against convshape specs in your tests.

    @pytest.mark.convshape("specs/net.yaml", input=(1, 3, 224, 224))
    def test_net_matches_its_spec(convshape_verify):
        convshape_verify(build_net())          # spec and input from the marker

    def test_other(convshape_verify):
        convshape_verify(build_net(), "zoo:resnet18", input_shape=(1, 3, 64, 64))

A mismatch fails the test with a per-layer diff. Loading the plugin imports neither torch nor
convshape's torch bridge; the fixture does so when it is used.
"""
from __future__ import annotations

import pytest


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "convshape(spec, input=None): the convshape spec (path or zoo:NAME) and input shape "
                   "that the convshape_verify fixture checks modules against")


@pytest.fixture
def convshape_verify(request):
    """verify(module, spec=None, input_shape=None); defaults come from @pytest.mark.convshape."""
    marker = request.node.get_closest_marker("convshape")
    default_spec = marker.args[0] if marker and marker.args else (marker.kwargs.get("spec") if marker else None)
    default_input = marker.kwargs.get("input") if marker else None

    def check(module, spec=None, input_shape=None):
        from convshape.torch.verify import verify
        spec = spec if spec is not None else default_spec
        if spec is None:
            raise pytest.UsageError("convshape_verify needs a spec: pass one or mark the test "
                                    "@pytest.mark.convshape('path/to/spec.yaml')")
        verify(module, spec, input_shape if input_shape is not None else default_input)

    return check

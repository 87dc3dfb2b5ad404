"""``import zoolab.hub`` and the registry CLI stay light."""

import subprocess
import sys


def test_import_is_light() -> None:
    code = (
        "import sys, zoolab.hub, zoolab.cli.registry; zoolab.hub.Snapshot; "
        "print(sorted(m for m in ('huggingface_hub', 'torch', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_public_names_are_functions() -> None:
    import zoolab.hub as hub
    import zoolab.hub.finder  # noqa: F401 - importing the module must not shadow the function

    assert callable(hub.search) and callable(hub.download) and callable(hub.info) and callable(hub.publish)
    assert hub.Store.__name__ == "Store"

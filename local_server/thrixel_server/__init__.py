"""Local Thrixel server: a stand-in for the Thrixel API that tests and the demo run against.

Start it with `python -m thrixel_server --port 8765` (with `local_server` on PYTHONPATH).
"""

from .app import create_app
from .config import DEFAULT_TEST_KEY, ServerConfig

__all__ = ["DEFAULT_TEST_KEY", "ServerConfig", "create_app"]

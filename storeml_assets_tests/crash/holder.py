"""A process that holds a storeml home's lock (as a `demo`) until it is killed; for the lock tests."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from storeml_assets.home_lock import home_lock

if __name__ == "__main__":
    home, ready = Path(sys.argv[1]), Path(sys.argv[2])
    with home_lock(home, "demo"):
        ready.write_text("locked")
        while True:
            time.sleep(1)

"""Unit tests of the data plane stand-ins' rules (pure logic and in-process ASGI apps; no emulator, no network)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

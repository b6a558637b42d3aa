"""`python -m botevents ARGS`: runs the installed binary with ARGS and exits with its status."""

from __future__ import annotations

import os
import subprocess
import sys

from botevents import find_botevents_bin


def main() -> int:
    binary = find_botevents_bin()
    if sys.platform == "win32":
        return subprocess.run([binary, *sys.argv[1:]]).returncode
    os.execvp(binary, [binary, *sys.argv[1:]])
    return 1  # not reached: exec replaced the process


if __name__ == "__main__":
    sys.exit(main())

"""The `botevents` command-line tool, installed as a binary beside this module.

`pip install botevents` puts `botevents` on the environment's PATH. For code that must not rely on
PATH (an Airflow task, a notebook), `find_botevents_bin()` returns the installed binary's path.
"""

from __future__ import annotations

import os
import sys
import sysconfig

__all__ = ["find_botevents_bin"]

_EXE = "botevents" + (sysconfig.get_config_var("EXE") or "")


def find_botevents_bin() -> str:
    """The path of the `botevents` binary installed with this package.

    Looked up where pip installs scripts for this interpreter: the environment's scripts folder,
    then the user scheme's (`pip install --user`), then beside the package (`pip install
    --target`). Raises FileNotFoundError, naming every place tried, when it is in none.
    """
    tried = []
    candidates = [sysconfig.get_path("scripts")]
    user_scheme = {"nt": "nt_user", "posix": "posix_user"}.get(os.name)
    if sys.platform == "darwin" and sys._framework:  # type: ignore[attr-defined]
        user_scheme = "osx_framework_user"
    if user_scheme and user_scheme in sysconfig.get_scheme_names():
        candidates.append(sysconfig.get_path("scripts", scheme=user_scheme))
    # `pip install --target DIR`: DIR/bin beside DIR/botevents.
    candidates.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bin"))
    for folder in candidates:
        if not folder:
            continue
        path = os.path.join(folder, _EXE)
        tried.append(path)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"the botevents binary is not installed; looked for: {', '.join(tried)}")

"""Where the shipped reference data (``data/``) and SMS templates (``templates/sms/``) are.

In a checkout they sit beside ``helpline.py``; ``pip install`` puts them under
``<prefix>/share/helpline/`` (setup.cfg ``data_files``).
"""

import sys
import sysconfig
from pathlib import Path


def resource_dir(name):
    """:param name: ``data`` or ``templates``. :returns: the folder's Path.

    :raises FileNotFoundError: when neither place has it (a broken install).
    """
    checkout = Path(__file__).resolve().parent.parent / name
    candidates = [checkout, Path(sysconfig.get_path("data")) / "share" / "helpline" / name,
                  Path(sys.prefix) / "share" / "helpline" / name]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"helpline's {name}/ folder is missing; reinstall with 'pip install .'")

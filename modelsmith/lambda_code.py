"""The workflows' own function modules, imported by the command line so that a file or input that passes
here passes in the workflow too.

Lambda puts a function's folder and the shared layer (``lambda_src/shared/python``) on the path; this does
the same here. Module names in ``lambda_src`` are unique across functions, so the folders can share a path.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

LAMBDA_SRC = Path(__file__).resolve().parents[1] / "lambda_src"
SHARED_FOLDER = LAMBDA_SRC / "shared" / "python"


def lambda_module(function_folder: str, module_name: str) -> ModuleType:
    """``module_name`` from ``lambda_src/<function_folder>/`` (or the shared layer when the folder is ``shared``)."""
    folders = [SHARED_FOLDER] if function_folder == "shared" else [SHARED_FOLDER, LAMBDA_SRC / function_folder]
    for folder in folders:
        if str(folder) not in sys.path:
            sys.path.append(str(folder))
    return importlib.import_module(module_name)

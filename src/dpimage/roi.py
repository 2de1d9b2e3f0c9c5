"""Old name of :mod:`dpimage.regions` (kept so existing imports keep working).

Everything region mode offers now lives in the :mod:`dpimage.regions`
package (geometry, detectors, tracking, release, spec); this module
re-exports its public names.
"""

from __future__ import annotations

from .regions import *  # noqa: F403
from .regions import __all__  # noqa: F401

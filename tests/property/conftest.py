"""Hypothesis profiles of the property tests.

ci (the default): a few hundred examples per family, derandomized so a CI run is reproducible.
deep: 10,000+ examples per family, random seeds:
    python -m pytest -q tests/property --hypothesis-profile=deep
(name the folder or a file in it on the command line: the profiles are registered here, and the
hypothesis plugin reads --hypothesis-profile before it collects the rest of the tree).
Per-test budgets are fractions of max_examples (props.budget), so a profile scales every family."""
from __future__ import annotations

import warnings

from hypothesis import HealthCheck, settings

# hypothesis imports its patch writer (libcst -> mypy_extensions, a DeprecationWarning) while it
# reports a failure, inside pytest's hooks where filterwarnings=error turns that into an
# INTERNALERROR hiding the failure: import it once here, quietly.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import hypothesis.extra._patching  # noqa: F401
    except ImportError:
        pass

_COMMON = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])

settings.register_profile("ci", max_examples=40, derandomize=True, **_COMMON)
settings.register_profile("deep", max_examples=2500, derandomize=False, **_COMMON)

if settings.get_current_profile_name() == "default":
    settings.load_profile("ci")

"""The former home of the GX suite runner, kept so existing imports work: the runner is now
:mod:`baselib.validation.gx_fallback` (GX for what the fast path lacks, and the reference for
tests), the row judgement :mod:`baselib.validation.executor`."""
from baselib.validation.executor import PartOutcome, key_strings  # noqa: F401
from baselib.validation.gx_fallback import SuiteRunner  # noqa: F401
from baselib.validation.rejected import EVIDENCE_DETAILS, rejected_records  # noqa: F401

"""`gridgate doctor`: checks an installation and says, for every problem, how to fix it.

One module per check family; each yields findings with a status (ok, warn, fail), a message
and a fix.
"""

from edge.doctor.context import DoctorContext
from edge.doctor.findings import Finding, Report, Status
from edge.doctor.runner import FAMILIES, run_doctor

__all__ = ["FAMILIES", "DoctorContext", "Finding", "Report", "Status", "run_doctor"]

"""The worker's jobs. The names below are cursor rows the worker keeps for `learnloop doctor`."""

HEARTBEAT = "worker-heartbeat"
"""Every running worker touches this row every HEARTBEAT_SECONDS."""
HEARTBEAT_SECONDS = 30.0
POLL_STATUS = "wiki-poll:"
"""`wiki-poll:<name>`: how the wiki's last poll went ("ok", or "error: ...")."""
POLL_RESTARTED = "wiki-restarted:"
"""`wiki-restarted:<name>`: why the wiki's poll last started again from an earlier position (a wiki restored
from a backup), and when."""

"""The gunicorn worker for one thread per process, the SQLite default (`Settings.threads_per_web_worker`).

gunicorn's gthread worker with a pool of one thread hands every request from its main thread (which
polls the sockets) to the pool thread and the finished connection back, so both threads want the GIL
for every request. Each time the request's thread lets the GIL go, in every SQLite call and socket
write, the main thread may take it, also while the request holds the database's writer lock, which
the other worker process then waits for. This worker is gthread with the hand-over taken out: the
thread that polls serves the request itself. Measured with scripts/bench_inbound.py's load (rounds
interleaved, same machine): the bare Flask app 1,786 -> 2,040 requests/s, learnloop 1,194 -> 1,409.

What a client sees is gthread's: keep-alive, pipelining, the same parser and access log. A new
connection waits in the poller for its first bytes rather than in the request's thread, so a client
that connects and sends nothing holds up no one. As with a pool of one thread, a client that stops
halfway through a request holds the worker until it sends or hangs up; here gunicorn's worker
timeout (`timeout`, 30 s) then restarts the worker, where a gthread worker would wait forever.

It leans on gthread's internals (`handle`, `finish_request`), which is why pyproject.toml pins
gunicorn's major version; tests/web/test_gunicorn_worker.py serves through it for real.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future
from typing import Any

from gunicorn.workers import gthread


class SingleThreadWorker(gthread.ThreadWorker):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ready: deque[gthread.TConn] = deque()
        self._serving = False

    def enqueue_req(self, conn: gthread.TConn) -> None:
        """Serve the connection's next request now. Called again from `finish_request` when a client
        pipelined its next request: that one is queued and served by the loop below, not recursively."""
        self._ready.append(conn)
        if self._serving:
            return
        self._serving = True
        try:
            while self._ready:
                self._serve(self._ready.popleft())
        finally:
            self._serving = False

    def _serve(self, conn: gthread.TConn) -> None:
        done: Future[Any] = Future()
        if not conn.initialized and not conn.wait_for_data(0):
            done.set_result(gthread._DEFER)  # nothing sent yet: back to the poller, as gthread does after waiting
        else:
            done.set_result(self.handle(conn))
        self.finish_request(conn, done)

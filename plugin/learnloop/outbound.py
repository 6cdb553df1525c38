"""What every host client does with an answer before reading it: the body is read up to a size, so a host that
answers with gigabytes (a URL that points at a file server, a proxy gone wrong) costs one clear error instead
of the worker's memory."""

from __future__ import annotations

import requests

MAX_ANSWER_BYTES = 16 * 1024 * 1024
"""Far above any answer learnloop reads: a Mattermost page of 200 channel members, a wiki page's text."""
CHUNK_BYTES = 64 * 1024


class AnswerTooLarge(requests.RequestException):
    """The host's answer is larger than learnloop reads."""


def capped(response: requests.Response, limit: int = MAX_ANSWER_BYTES) -> requests.Response:
    """The response of a request sent with `stream=True`, its body read (decoded) up to `limit` bytes and kept as
    its content, so `.json()` and `.text` read it as usual. Raises AnswerTooLarge, with the connection closed."""
    declared = response.headers.get("Content-Length", "")
    chunks: list[bytes] = []
    size = int(declared) if declared.isdigit() and int(declared) > limit else 0
    if not size:
        for chunk in response.iter_content(CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                break
            chunks.append(chunk)
    if size > limit:
        response.close()
        raise AnswerTooLarge(f"the answer is larger than {limit // (1024 * 1024)} MB, more than learnloop reads",
                             response=response)
    response._content = b"".join(chunks)  # what requests itself keeps after reading the whole body
    return response

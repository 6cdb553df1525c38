"""Starter prompts for a new community, each a structured reflection that ends in an action.

Why these three:

- "What? So what? Now what?" is Borton's model as Rolfe et al. use it: describe, make sense, decide what to
  do next. Short, structured and action-ending, asked weekly.
- The after-event review follows the after-action review: what was supposed to happen, what happened, why it
  was different, what to keep and what to change. Structured reviews improved performance where
  unstructured reflection did not (meta-analysis of debriefs: d = .67; Ellis et al. on systematic reflection
  after successes as well as failures). Four questions fit in three here: the first asks plan and outcome
  together.
- "One thing I learned this week" is the smallest regular reflection, closest to the end-of-day reflection in
  Di Stefano, Gino, Pisano and Staats's field experiment.

Each becomes an ordinary prompt through services.prompts.setup, exactly as `/learn prompts setup` makes one."""

from __future__ import annotations

from dataclasses import dataclass

from learnloop.services.prompts.setup import PromptSetup

DEFAULT_TIME = "16:30"
DEFAULT_WINDOW = "16h"
"""The same defaults as the set-up dialog's."""


@dataclass(frozen=True)
class Template:
    name: str
    label: str
    questions: tuple[str, ...]
    repeat: str
    rhythm: str
    """How often, in words, for the dialog."""

    def setup(self, *, repeat: str | None = None, local_time: str = DEFAULT_TIME, timezone: str = "UTC",
              visibility: str = "private") -> PromptSetup:
        """The prompt this template makes; `repeat` None or empty keeps the template's own rhythm."""
        return PromptSetup(questions=list(self.questions), scale_question=None, repeat=repeat or self.repeat,
                           local_time=local_time, window=DEFAULT_WINDOW, default_visibility=visibility,
                           label=self.label, timezone=timezone)


WHAT_SO_WHAT = Template(
    "what_so_what", "What? So what? Now what?",
    ("What happened this week that you learned from?",
     "So what: why does it matter, and what does it tell you?",
     "Now what: what will you do differently next week?"),
    "weekly fri", "weekly, on Friday")
AFTER_EVENT = Template(
    "after_event", "After-event review",
    ("Think of a recent event, release or meeting: what was supposed to happen, and what actually happened?",
     "Why was it different?",
     "What will you keep doing, and what will you change next time?"),
    "every 2 weeks fri", "every 2 weeks, on Friday")
ONE_THING = Template(
    "one_thing", "One thing I learned this week",
    ("What is one thing you learned this week?",),
    "weekly fri", "weekly, on Friday")
TEMPLATES = {template.name: template for template in (WHAT_SO_WHAT, AFTER_EVENT, ONE_THING)}

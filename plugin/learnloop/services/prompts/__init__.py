"""Reflection prompts, from the owner's set-up to each person's answer: `setup` (what is asked, when),
`runs` (planning and deciding each delivery), `delivered` (a prompt from the person's side), `timing`
(when a prompt is due for one person) and `preferences` (each person's own settings)."""

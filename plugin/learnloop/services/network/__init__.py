"""The network's side: a weekly community digest, suggestions from what people found useful together,
recognition for sharing, and the co-ratings behind the suggestions."""

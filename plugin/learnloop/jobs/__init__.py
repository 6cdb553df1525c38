"""Background work for `learnloop worker`: outbox delivery, and later schedules and pollers."""

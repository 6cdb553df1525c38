"""Pure rules: no Flask, no SQL, no network. Everything here is a function of its arguments."""

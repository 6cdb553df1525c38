"""Stand-ins for the hosts learnloop talks to, shared by the tests and the benchmarks (scripts/)."""

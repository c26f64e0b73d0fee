"""Engine work in helper processes: the jobs, what a helper runs, and the pool's client."""

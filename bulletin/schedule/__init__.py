"""Sends at a set time: the time asked for, read and judged (timing.py, pure, `now` passed
in), scheduling and running one schedule (jobs.py, the use-cases), and the loop that runs
them beside `bulletin serve` (worker.py)."""

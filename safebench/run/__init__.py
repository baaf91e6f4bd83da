"""The run: its config, lifecycle, case runner, executors, rejudge and estimate."""

"""The audit views: report, viewer, search, plots and tables over a run's store."""

"""Jury studies: labelled sets, agreement with people, calibration and sweeps of juries."""

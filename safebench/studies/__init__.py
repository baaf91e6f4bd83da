"""Studies: the paper's one-factor-at-a-time experiments, one spec and one command.

A study names a base run config and its axes (image condition, modality and voice, attack,
dataset). It expands into cells, each an ordinary resumable run with its own store, judged by
the base config's jury; the tables and plots compare the cells in the paper's layouts.
"""

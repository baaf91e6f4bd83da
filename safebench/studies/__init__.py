"""Studies, the one home of every experiment SafeBench runs over many cases.

Two kinds share one bench (every case judged by ``jury.case.judge_case``, every call cached
in the study's store): the paper's one-factor-at-a-time studies of targets (``spec``,
``cells``, ``runner``: ``safebench study``), and studies of juries against human labels
(``calibration``, ``experiment`` over ``labelled_bench``: ``safebench calibrate`` and
``safebench experiment``).

The paper's studies, one spec and one command:

A study names a base run config and its axes (image condition, modality and voice, attack,
dataset). It expands into cells, each an ordinary resumable run with its own store, judged by
the base config's jury; the tables and plots compare the cells in the paper's layouts.
"""

"""The top layer: the CLI and the runs built from the layers below (chaos, load, demo,
ablation, bench, compare, reports, the gate). Nothing below imports it.
"""

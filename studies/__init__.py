"""Studies: the experiments behind BUILD_NOTES results (ablations, limited data, the stability table, bit checks). Run from the checkout (`python -m studies.table`); not installed."""

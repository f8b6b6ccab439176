"""The `gridgate` command line: a thin layer over library functions."""

"""The context service as the 3am incident found it (a museum piece: its bugs are kept on purpose).

See docs/legacy.md for the list of bugs and how to run it.
"""

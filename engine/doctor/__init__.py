"""`ptm-tui doctor`: what this machine has for ptm-tui, and what to do where it falls short.

One module per thing looked at (software, GPUs, folders, network, tools); each returns Check
rows, which say their state and, when it is not fine, the fix. Nothing here changes anything:
the folders are only looked at, and a network check is one HEAD request with a short timeout.

May import: every other engine package (it looks at all of them); only the faces import it.
"""

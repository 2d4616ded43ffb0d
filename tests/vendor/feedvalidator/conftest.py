"""pytest collects nothing here: the vendored validator holds no tests of ours.

Its `formatter/application_test.py` matches pytest's `*_test.py`, and importing it would import
the package at collection, whose `__init__` sets the process-wide default socket timeout (10 s)
for every test of the session. tests/support/w3c.py imports it when first used and puts the
timeout back.
"""

collect_ignore = ["feedvalidator"]

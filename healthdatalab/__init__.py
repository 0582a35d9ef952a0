"""Tools shared by the notebooks of the Health Data Sharing Playbook.

One module per concern, each importing only those below it:

``cohort``
    seeded synthetic Dutch patient cohorts with a known ground truth, and a public register.

Every function takes a table (or a number) and returns a table, a number or a figure; no
module reads files the caller did not pass in, and no module prints.
"""

__version__ = "0.1.0"

# The resident channel (/report and /track) and the files of cases.
resident-case-files = Photos and voice notes

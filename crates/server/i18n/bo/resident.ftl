# The resident channel (/report and /track) and the files of cases.
resident-case-files = པར་དང་སྐད་འཕྲིན།

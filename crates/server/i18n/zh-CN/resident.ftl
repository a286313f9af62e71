# The resident channel (我要报事, /report and /track) and the files of cases.
resident-case-files = 照片和语音

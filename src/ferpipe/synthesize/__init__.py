"""Stage synthesize: the embedded synthetic faces, in FER2013's CSV format, with FER+-style votes."""

"""Stage ingest: any FER2013 form → validated Parquet copy, rejected rows, data report."""

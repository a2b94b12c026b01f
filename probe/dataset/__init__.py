"""Measurement datasets as Parquet directories (adapter: pyarrow, files).

:mod:`.parquet` writes the fleet simulator's output and reads any directory of Parquet files
with the measurement columns into the DataFrame the compliance core evaluates. Needs the
``fleet`` extra (pyarrow).
"""

"""Spark as the lake jobs use it: the session they run on and the tables' schemas in Spark's types."""

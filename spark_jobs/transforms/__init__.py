"""The lake's silver and gold layers, computed with Spark from bronze, one UTC day at a time."""

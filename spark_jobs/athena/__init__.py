"""Amazon Athena over the lake: the tables' DDL and running SQL through the Athena API."""

"""A stand-in for a LORIS site's MariaDB: LORIS's tables that the uploader uses (schema.sql) and the demo
project (demo.py), as pipeline/ stands in for LORIS-MRI. The services never import it."""

"""Tools around the pipeline that are not part of it: the documentation's generated tables, the site's build hooks."""

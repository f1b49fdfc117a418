"""Search backends behind one small protocol (`pipeline.search.base.Search`)."""

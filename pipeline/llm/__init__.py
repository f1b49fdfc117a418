"""LLM backends behind one small protocol (`pipeline.llm.base.LLM`)."""

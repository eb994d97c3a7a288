"""LLM providers behind one Protocol (``base.Provider``), one module each."""
